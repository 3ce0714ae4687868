"""Widgets built from literal model values: no engine, no torch, exact expectations."""

from __future__ import annotations

from textual.app import App, ComposeResult

from gradtui.model.events import BackwardDone, LineReached, OpCalled
from gradtui.model.formatting import format_delta
from gradtui.model.graph import GraphNode
from gradtui.model.tensors import TensorStats, TensorSummary
from gradtui.ui.view import View
from gradtui.ui.widgets.graph import EXPAND_ALL_LIMIT, GraphView


def _count(node) -> int:  # type: ignore[no-untyped-def]
    return 1 + sum(_count(c) for c in node.children)


class GraphHarness(App[None]):
    def __init__(self, view: View) -> None:
        super().__init__()
        self.view_ = view

    def compose(self) -> ComposeResult:
        yield GraphView(id="graph")

    def on_mount(self) -> None:
        self.query_one(GraphView).show(self.view_)


def _chain_graph(depth: int) -> dict[int, GraphNode]:
    """A deep chain (an unrolled loop): node i feeds node i+1 and a leaf ``w``."""
    nodes = {i: GraphNode(i, "AddBackward0", (i + 1, depth + 1)) for i in range(depth)}
    nodes[depth] = GraphNode(depth, "AccumulateGrad", (), "x")
    nodes[depth + 1] = GraphNode(depth + 1, "AccumulateGrad", (), "w")
    return nodes


async def test_a_graph_of_thousands_of_nodes_opens_one_level_at_a_time() -> None:
    graph = _chain_graph(5000)
    events = [LineReached(seq=0, file="s.py", line=1, function="<module>"),
              BackwardDone(seq=1, file="s.py", line=2, root="loss", loss=1.0, grads={}, graph=0, loss_scale=None)]
    app = GraphHarness(View(events=events, cursor=1, graph=graph))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        tree = app.query_one(GraphView)
        assert tree.border_title == "Graph · 5002 nodes"
        assert _count(tree.root) < 10  # root, the first node and its two inputs
        first = tree.root.children[0]
        assert "AddBackward0" in str(first.label) and "2 inputs" in str(first.label)
        shared = [c for c in first.children if "· w" in str(c.label)]
        assert shared and "shared: used 5000×" in str(shared[0].label)
        next_node = first.children[0]
        next_node.expand()
        await pilot.pause()
        assert len(next_node.children) == 2
        assert "shared: see above" in str(next_node.children[1].label)


async def test_a_small_graph_opens_fully_and_draws_a_shared_node_once() -> None:
    graph = {0: GraphNode(0, "MulBackward0", (1, 1)), 1: GraphNode(1, "AccumulateGrad", (), "theta")}
    events = [OpCalled(seq=0, file="s.py", line=3, op="mul", grad_fn="MulBackward0", args=("theta", "theta"), graph=0,
                       grad_enabled=True, output=None)]
    app = GraphHarness(View(events=events, cursor=0, graph=graph))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        tree = app.query_one(GraphView)
        assert str(tree.root.label).startswith("mul(theta, theta)")
        mul = tree.root.children[0]
        labels = [str(c.label) for c in mul.children]
        assert labels == ["AccumulateGrad · theta  shared: used 2×", "AccumulateGrad · theta  shared: see above"]
        assert EXPAND_ALL_LIMIT >= 2 and mul.is_expanded


async def test_an_op_under_no_grad_has_no_graph() -> None:
    events = [OpCalled(seq=0, file="s.py", line=3, op="mul", grad_fn=None, grad_enabled=False, args=("x", "2"),
                       graph=None, output=None)]
    app = GraphHarness(View(events=events, cursor=0))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        tree = app.query_one(GraphView)
        assert "not part of an autograd graph" in str(tree.root.children[0].label)


def _t(values, shape=(1,)) -> TensorSummary:  # type: ignore[no-untyped-def]
    return TensorSummary(shape, "float32", values=values)


def test_format_delta() -> None:
    assert format_delta(_t([1.0]), _t([0.6000000238418579])) == "-0.4"  # SGD: 1 - 0.2 * 2
    assert format_delta(_t([1.0, -1.0], (2,)), _t([0.6, -0.6], (2,))) == "[-0.4, 0.4]"
    assert format_delta(None, _t([2.0])) == "new"
    assert format_delta(_t([2.0]), None) == "set to None"
    assert format_delta(None, None) == ""
    big = TensorSummary((1000,), "float32", stats=TensorStats(1000, -1.0, 1.0, 0.0, 0.5, 10.0))
    bigger = TensorSummary((1000,), "float32", stats=TensorStats(1000, -1.0, 1.0, 0.0, 0.5, 12.5))
    assert format_delta(big, bigger) == "norm +2.5"


class PanelHarness(App[None]):
    def compose(self) -> ComposeResult:
        from gradtui.ui.widgets.panel import EventPanel

        yield EventPanel(id="panel")


async def test_a_panel_fits_its_content_and_keeps_its_height_through_a_run_of_shorter_ones() -> None:
    """A panel skips the screen's layout while its content fits the height it has: content
    must never be cut for that, and the rows it keeps are given back after a run of
    shorter contents (``KEEP_ROWS_FOR``)."""
    from rich.text import Text

    from gradtui.ui.sticky_rows import KEEP_ROWS_FOR
    from gradtui.ui.widgets.panel import EventPanel

    app = PanelHarness()
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(EventPanel)
        # 30: taller than the panel, which scrolls; then shorter ones until it gives rows back
        shown = [1, 5, 5, 2, 30, 9] + [3] * KEEP_ROWS_FOR
        for i, lines in enumerate(shown):
            panel._put(Text("\n".join(f"row {j} of {lines}" for j in range(lines))))
            await pilot.pause()
            expected = max(shown[max(0, i + 1 - KEEP_ROWS_FOR): i + 1])
            assert panel._body.size.height == expected >= lines
            assert panel.virtual_size.height == max(expected, panel.size.height)
        assert panel._body.size.height == 3


def test_the_status_line_grows_at_once_and_gives_rows_back_only_after_a_run_of_shorter_texts() -> None:
    from gradtui.ui.sticky_rows import StickyRows

    rows = StickyRows(keep=3)
    assert [rows.fit(n) for n in (2, 3, 2, 2, 2, 2, 4, 1, 1, 1)] == [2, 3, 3, 3, 2, 2, 4, 4, 4, 1]


class OutputHarness(App[None]):
    CSS_PATH = "../gradtui/ui/app.tcss"

    def compose(self) -> ComposeResult:
        from gradtui.ui.widgets.output import OutputView

        yield OutputView(id="output")


async def test_output_that_fits_the_panel_is_shown_without_a_layout_and_longer_output_scrolls_to_its_end() -> None:
    """Printed text shows in full whichever way it came: new text that fits the panel as the
    text before it did needs no layout of the screen (a training loop prints every few keys);
    text that does not fit is laid out and scrolled to its newest line."""
    from textual.widgets import Static

    from gradtui.model.events import OutputWritten
    from gradtui.ui.widgets.output import OutputView

    app = OutputHarness()
    async with app.run_test(size=(60, 12)) as pilot:
        panel = app.query_one(OutputView)
        body = panel.query_one(Static)
        layouts: list[bool] = []
        real = Static.update

        def update(content: object = "", *, layout: bool = True) -> None:
            layouts.append(layout)
            real(body, content, layout=layout)  # type: ignore[arg-type]

        body.update = update  # type: ignore[method-assign]
        events: list[object] = [LineReached(seq=0, file="a.py", line=1, function="<module>")]
        printed = ["epoch 0 loss 1.0\n", "epoch 1 loss 0.5\n", "".join(f"row {i}\n" for i in range(40)), "done\n"]
        for text in printed:
            events.append(OutputWritten(seq=len(events), file="a.py", line=1, stream="stdout", text=text))
            panel.show(View(events=events, cursor=len(events) - 1))  # type: ignore[arg-type]
            await pilot.pause()
            await pilot.pause()
            shown = "".join(printed[: printed.index(text) + 1]).rstrip("\n")
            assert str(body.content) == shown
        # the first text, laid out; the second fits as the first did; the long one, laid out and
        # scrolled to its end; with one line more, still too long: laid out and scrolled again
        assert layouts == [True, False, True, True]
        assert panel.scroll_y == panel.max_scroll_y > 0
        assert body.size.height == shown.count("\n") + 1


class DrawnHarness(App[None]):
    CSS = "Horizontal { height: auto; } Static, DrawnLines { width: 36; }"

    def compose(self) -> ComposeResult:
        from textual.containers import Horizontal
        from textual.widgets import Static

        from gradtui.ui.drawn_lines import DrawnLines

        with Horizontal():
            yield Static("")
            yield DrawnLines()


def counted_draws(monkeypatch):  # type: ignore[no-untyped-def]
    """The visuals drawn from here on (a list that grows), and Textual's own ``to_strips``."""
    from textual.visual import Visual

    draws = []
    real = Visual.to_strips

    def to_strips(*args, **kwargs):  # type: ignore[no-untyped-def]
        draws.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(Visual, "to_strips", to_strips)
    return draws, real


async def test_drawn_lines_paint_what_a_static_paints_and_draw_a_content_once_per_key(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The panels' bodies show what a ``Static`` shows of the same content, line for line and
    style for style, a wrapping table and a text alike; shown again under its key, a content
    is not drawn again until the kept drawings are forgotten (a panel does so for another
    timeline); a text is drawn only as far as its rows are asked for."""
    from rich.table import Table
    from rich.text import Text
    from textual.geometry import Region
    from textual.visual import visualize
    from textual.widgets import Static

    from gradtui.ui.drawn_lines import DrawnLines

    table = Table(box=None, pad_edge=False, show_edge=False, title="opt.step() · line 9", title_justify="left")
    for column in ("parameter", "before", "after", "change"):
        table.add_column(column, style="bold green" if column == "parameter" else None)
    for i in range(12):
        table.add_row(f"model.{i}.weight", f"<float32 16x16 mean={i / 7:.6g} norm={i * 3.1:.6g}>", "0.5", "-0.25")
    text = Text.assemble(("w.grad", "bold green"), "  None → 2 → 4 ", ("→ 6", "bold reverse"), " ⟲ zero_grad" * 6)
    # lines of their own, a style across a newline, a blank line, a word longer than the width
    lines = Text.assemble(("a.grad  1\nb", "bold"), ".grad  2 → ", ("3", "reverse"), "\n\n", "x" * 50, " end\n")
    app = DrawnHarness()
    async with app.run_test(size=(80, 60)) as pilot:
        static, drawn = app.query_one(Static), app.query_one(DrawnLines)
        for key, content in (("table", table), ("text", text), ("lines", lines), ("short", Text("no backward() yet"))):
            static.update(content)
            drawn.show(content, key)
            drawn.refresh(layout=True)  # as a panel does when its height changes
            await pilot.pause()
            await pilot.pause()
            assert static.size == drawn.size
            region = Region(0, 0, drawn.size.width, drawn.size.height)
            assert drawn.render_lines(region) == static.render_lines(region)
        draws, real = counted_draws(monkeypatch)
        drawn.show(table, "table")
        assert drawn.height_at(36) > 3 and draws == []  # kept from the first time
        drawn.forget()
        drawn.show(table, "table")
        assert drawn.height_at(36) > 3 and len(draws) == 1
        # a text: its lines are drawn as they are asked for, not before
        draws.clear()
        many = Text("\n").join(Text(f"leaf{i}.grad  " + "None → 2 " * 6) for i in range(300))
        drawn.show(many, "many")
        assert drawn.height_at(36) == 600 and draws == []
        row = drawn.render_line(301)
        assert len(draws) == 1  # the one line of the text that row 301 is in
        whole = real(drawn, visualize(drawn, many), 36, None, drawn.visual_style)
        assert len(whole) == 600 and row == whole[301]  # the same segments, styles and selection offsets


async def test_a_one_line_table_paints_what_a_static_paints_and_draws_only_the_rows_in_view(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A table of a line per tensor (a model of many): the body paints what a ``Static`` paints
    of the whole table, its height known without drawing a row, and a row drawn when asked for."""
    from rich.text import Text
    from textual.geometry import Region
    from textual.widgets import Static

    from gradtui.ui.drawn_lines import DrawnLines
    from gradtui.ui.one_line_table import OneLineTable

    rows = [(f"model.encoder.{i}.weight", f"{i * 0.37:.4g}", Text.assemble("None → ", (f"{i}.5", "bold reverse")))
            for i in range(200)]
    title = Text.assemble(("Adam", "bold"), " opt · step() #3 · a title long enough to wrap at 36 cells")
    table = OneLineTable.of(title, ("parameter", "‖before‖", "values"), ("bold green", "", ""), rows,
                            shrink_first=(0,))
    app = DrawnHarness()
    async with app.run_test(size=(80, 250)) as pilot:
        static, drawn = app.query_one(Static), app.query_one(DrawnLines)
        static.update(table)
        drawn.show(table, "many")
        drawn.refresh(layout=True)
        await pilot.pause()
        await pilot.pause()
        assert static.size == drawn.size and drawn.size.height == 2 + 1 + 200  # the title wraps once
        region = Region(0, 0, drawn.size.width, drawn.size.height)

        def painted(strips):  # type: ignore[no-untyped-def]
            """Each cell's character and style as the terminal shows them: a Rich renderable's
            segments carry no selection offsets, and a blank cell shows its background alone."""
            return [[(ch, None if style is None else style.bgcolor if ch == " " and not style.reverse
                      else style.clear_meta_and_links()) for text, style, _ in strip for ch in text]
                    for strip in strips]

        assert painted(drawn.render_lines(region)) == painted(static.render_lines(region))
        draws, real = counted_draws(monkeypatch)
        drawn.show(table, "again")
        assert drawn.height_at(36) == 203 and len(draws) == 0  # the title measured, nothing drawn
        row = drawn.render_line(150)
        assert len(draws) == 1 and row.text == "….147.weight  54.39     None → 147.5"
