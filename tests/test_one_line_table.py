"""A line per tensor for models of many: the table's own rules, then the panels on a real
run of 30 parameter tensors, whose numbers are checked against torch run directly.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from gradtui.model.events import BackwardDone, GradsZeroed, StepTaken
from gradtui.ui.one_line_table import MANY_ROWS, OneLineTable
from gradtui.ui.view import View
from gradtui.ui.widgets.grads import render_grads
from gradtui.ui.widgets.optimizer import render_optimizer
from gradtui.ui.widgets.params import render_params


def table(rows: list[tuple[str, ...]], **kwargs: object) -> OneLineTable:
    return OneLineTable.of("opt.step() · line 9", ("parameter", "before", "after"), ("bold green", "", ""),
                           rows, **kwargs)  # type: ignore[arg-type]


def test_columns_are_as_wide_as_their_widest_cell_when_the_table_fits() -> None:
    t = table([("a", "1", "22"), ("layers.0.weight", "333", "4")])
    assert t.widths(80) == [15, 6, 5]  # "parameter" 9 < 15; headers "before" 6 and "after" 5
    lines = [t.line(t.widths(80), i).plain for i in range(t.lines_below_title)]
    assert lines == ["parameter        before  after",
                     "a                1       22",
                     "layers.0.weight  333     4"]


def test_a_table_too_wide_cuts_names_at_their_start_first_then_the_widest() -> None:
    rows = [(f"model.encoder.layers.{i}.attention.weight", "1.234e-05", "max |Δ| 1.234e-05") for i in range(3)]
    t = table(rows, shrink_first=(0,))
    for width in range(12, 90):
        widths = t.widths(width)
        lines = [t.line(widths, i) for i in range(t.lines_below_title)]
        assert all(line.cell_len <= width for line in lines), width
        assert sum(widths) + 2 * (len(widths) - 1) <= max(width, len(widths) * 3 - 2)
    widths = t.widths(60)
    assert widths[1:] == [9, 17]  # the numbers keep their width: the names gave it up
    assert widths[0] == 60 - 9 - 17 - 2 * 2
    assert t.line(widths, 1).plain == "…der.layers.0.attention.weight  1.234e-05  max |Δ| 1.234e-05"
    assert t.line(widths, 3).plain.split()[0].endswith("layers.2.attention.weight")


def test_a_history_cut_at_its_start_loses_whole_pieces_and_keeps_its_styles() -> None:
    history = Text.assemble("None → 1.5 → 2.25 ", ("→ 3.125", "bold reverse"))
    t = OneLineTable.of("", ("leaf", "values"), ("bold green", ""), [("w", history)], cut_at_start=(0, 1),
                        show_header=False)
    line = t.line([1, 12], 0)
    assert line.plain == "w  … → 3.125"
    marked = [line.plain[s.start:s.end] for s in line.spans if s.style == "bold reverse"]
    assert marked == ["→ 3.125"]
    assert [line.plain[s.start:s.end] for s in line.spans if s.style == "bold green"] == ["w"]


def test_the_whole_table_renders_as_its_lines_one_row_a_line() -> None:
    t = table([(f"p{i}", str(i), "x" * i) for i in range(40)])
    console = Console(width=30, record=True, file=open("/dev/null", "w"))
    console.print(t)
    out = console.export_text().splitlines()
    assert out[0] == "opt.step() · line 9" and out[1].split() == ["parameter", "before", "after"]
    assert len(out) == 2 + 40 and all(cell_len(line) <= 30 for line in out)
    assert out[-1].startswith("p39") and out[-1].endswith("…")


#: 15 linear layers: 30 parameter tensors, more than MANY_ROWS; SGD with momentum keeps state.
MANY = textwrap.dedent("""\
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(15)])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(4, 3)
    for step in range(2):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
""")


def torch_truth() -> list[dict[str, dict[str, float]]]:
    """The same run, in torch alone: each step's norms of every parameter before and after,
    of its gradient, and of its momentum buffer after."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(15)])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(4, 3)
    steps = []
    for _ in range(2):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        named = {f"model.{n}": p for n, p in model.named_parameters()}  # the script's names
        before = {n: p.detach().norm().item() for n, p in named.items()}
        grads = {n: p.grad.norm().item() for n, p in named.items()}  # type: ignore[union-attr]
        opt.step()
        steps.append({"before": before, "grad": grads,
                      "after": {n: p.detach().norm().item() for n, p in named.items()},
                      "momentum": {n: opt.state[p]["momentum_buffer"].norm().item() for n, p in named.items()}})
    return steps


def cells(t: OneLineTable) -> dict[str, tuple[str, ...]]:
    return {str(row[0]): tuple(str(c) for c in row[1:]) for row in t.rows}


def close(text: str, value: float) -> bool:
    """``text`` is ``value`` to the four significant digits the table shows."""
    return float(text) == pytest.approx(value, rel=5e-4, abs=1e-12)


def test_a_model_of_30_tensors_shows_a_line_each_with_the_norms_torch_computed(tmp_path: Path, run_script) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "many.py"
    script.write_text(MANY, encoding="utf-8")
    timeline = run_script(script)
    events = timeline.events
    truth = torch_truth()
    names = list(truth[0]["before"])
    assert len(names) == 30 > MANY_ROWS
    steps = [i for i, e in enumerate(events) if isinstance(e, StepTaken)]
    backwards = [i for i, e in enumerate(events) if isinstance(e, BackwardDone)]
    zeroed = [i for i, e in enumerate(events) if isinstance(e, GradsZeroed)]
    assert len(steps) == len(backwards) == len(zeroed) == 2
    for k, at in enumerate(steps):
        view = View(events, at, sources=timeline.sources)
        params = render_params(view)
        assert isinstance(params, OneLineTable) and params.headers == ("parameter", "‖before‖", "‖after‖", "change")
        assert "30 tensors" in str(params.title) and list(cells(params)) == names
        for name, (before, after, change) in cells(params).items():
            assert close(before, truth[k]["before"][name]) and close(after, truth[k]["after"][name]), name
            assert change.startswith("max |Δ| ")  # 9 or 3 values, kept: the largest change of one
        optimizer = render_optimizer(view)
        assert isinstance(optimizer, OneLineTable) and optimizer.headers == ("parameter", "momentum_buffer")
        assert all(close(buf, truth[k]["momentum"][name]) for name, (buf,) in cells(optimizer).items())
    # The gradients after the second backward: a line per leaf, its newest value its norm.
    grads = render_grads(View(events, backwards[1], sources=timeline.sources))
    assert isinstance(grads, OneLineTable) and "30 leaves" in str(grads.title)
    for row in grads.rows:
        name, history = str(row[0]), row[1]
        assert isinstance(history, Text)
        newest = history.plain.split()[-1]
        assert close(newest, truth[1]["grad"][name]), name
        assert "⟲ zero_grad → None →" in history.plain
    # The second zero_grad: each .grad set to None, from the first backward's gradient.
    zero = render_params(View(events, zeroed[1], sources=timeline.sources))
    assert isinstance(zero, OneLineTable) and zero.headers[0] == ".grad of"
    for name, (before, after, change) in cells(zero).items():
        assert close(before, truth[0]["grad"][name]) and after == "None" and change == "set to None"


def test_a_model_of_few_tensors_keeps_the_wrapped_table_in_full(run_script) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    from tests.conftest import SCENARIOS

    timeline = run_script(SCENARIOS / "sgd_step.py")
    events = timeline.events
    at = next(i for i, e in enumerate(events) if isinstance(e, StepTaken))
    assert isinstance(render_params(View(events, at, sources=timeline.sources)), Table)
