"""The graph panel on a real model: grouped by module, opened all at once, searched.

The model is the corpus's minGPT-like transformer with four layers instead of two, so
its loss's graph has over 200 nodes. Expected counts come from the graph table the
engine recorded (each node's name and module, checked against torch in
test_graph_modules.py), never from the panel's own earlier output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets.tree import TreeNode

from gradtui.model.events import BackwardDone
from gradtui.model.graph import reachable
from gradtui.ui.app import GradtuiApp
from gradtui.ui.widgets.graph import GraphView
from tests.apptools import live_app, press, started
from tests.conftest import SCRIPTS

TRANSFORMER = SCRIPTS / "real" / "transformer_block.py"


@pytest.fixture
def four_layers(tmp_path: Path) -> Path:
    text = TRANSFORMER.read_text()
    assert "n_layer=2" in text and "range(20)" in text
    script = tmp_path / "transformer_4.py"
    script.write_text(text.replace("n_layer=2", "n_layer=4").replace("range(20)", "range(2)"))
    return script


async def _first_backward(pilot: Pilot[None]) -> BackwardDone:
    app = pilot.app
    assert isinstance(app, GradtuiApp)
    await started(pilot)
    while not isinstance(app.timeline.events[app.cursor], BackwardDone):
        await press(pilot, "e")
    event = app.timeline.events[app.cursor]
    assert isinstance(event, BackwardDone)
    return event


def _shown(node: TreeNode[object]) -> list[TreeNode[object]]:
    """Tree nodes on screen: below expanded nodes only."""
    out = [node]
    if node.is_expanded:
        for child in node.children:
            out.extend(_shown(child))
    return out


def _text(node: TreeNode[object]) -> str:
    return str(getattr(node.label, "plain", node.label))


async def test_a_200_node_graph_grouped_by_module_opens_closes_and_finds(four_layers: Path) -> None:
    app = live_app(four_layers)
    async with app.run_test(size=(120, 40)) as pilot:
        bw = await _first_backward(pilot)
        graph = app.timeline.graph
        order = reachable(graph, bw.graph)
        assert len(order) > 200
        tree = app.query_one(GraphView)
        assert tree.border_title == f"Graph · {len(order)} nodes"

        # Closed by default: the loss's own ops, then one line for lm_head with its count.
        lines = [_text(n) for n in _shown(tree.root)]
        lm_head = sum(1 for i in order if graph[i].module == "lm_head")
        assert lines[1:4] == ["NllLossBackward0  (1 input)", "LogSoftmaxBackward0  (1 input)",
                              "ViewBackward0  (1 input)"]
        assert lines[4:] == [f"lm_head · {lm_head} nodes"]

        tree.focus()
        await pilot.press("plus")
        await pilot.pause()
        shown = _shown(tree.root)
        homes = [n for n in shown if n.data is not None and n.data.node is not None and n.data.home]
        assert sorted(n.data.node for n in homes) == sorted(order)  # type: ignore[union-attr]
        groups = {n.data.group for n in shown if n.data is not None and n.data.group is not None}
        assert {f"transformer.h.{i}.attn" for i in range(4)} <= groups

        await pilot.press("minus")
        await pilot.pause()
        assert [_text(n) for n in _shown(tree.root)] == lines

        # Find a node: every name containing the text is a match, in order, Enter cycles.
        softmaxes = sum(1 for i in order if "softmaxbackward0" in graph[i].name.casefold())
        assert softmaxes == 4 + 1  # one softmax per layer, and the loss's log_softmax
        await pilot.press("slash", *"SoftmaxBackward0")
        await pilot.pause()
        assert tree.border_subtitle.startswith("find: SoftmaxBackward0▏ 1 of 5")
        assert tree.cursor_node is not None and _text(tree.cursor_node).startswith("LogSoftmaxBackward0")
        await pilot.press("enter")
        await pilot.pause()
        assert "2 of 5" in tree.border_subtitle
        cursor = tree.cursor_node
        assert cursor is not None and _text(cursor).startswith("SoftmaxBackward0")
        assert cursor.data is not None and graph[cursor.data.node].module.endswith(".attn")  # type: ignore[union-attr,index]
        await pilot.press("escape")
        await pilot.pause()
        # The path from the root to the cursor, its module group included.
        path = tree.border_subtitle
        assert path.startswith("loss ▸ ") and path.endswith(" ▸ SoftmaxBackward0")
        assert graph[cursor.data.node].module in path  # type: ignore[union-attr,index,operator]
        assert app.cursor == bw.seq  # finding typed nothing into the debugger's own keys

        # Find a parameter by its name: lm_head's weight, the only leaf lm_head owns.
        leaf = next(graph[i] for i in order if graph[i].module == "lm_head" and graph[i].variable is not None)
        assert leaf.variable is not None
        await pilot.press("minus", "slash", *leaf.variable, "escape")
        await pilot.pause()
        cursor = tree.cursor_node
        assert cursor is not None and cursor.data is not None and cursor.data.node == leaf.id
        assert "lm_head" in tree.border_subtitle.split(" ▸ ")


def test_snapshot_of_the_grouped_graph(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _first_backward(pilot)
        app = pilot.app
        app.query_one(GraphView).focus()
        await pilot.press("down", "down", "down", "down", "down", "enter")  # open lm_head
        await pilot.pause()

    assert snap_compare(live_app(TRANSFORMER), run_before=run_before, terminal_size=(120, 40))
