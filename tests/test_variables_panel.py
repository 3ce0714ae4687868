"""The variables panel, frames, the ``:`` prompt, watches and the tensor detail view, driven by Pilot.

At ``out.backward()`` in the tensor-gradients tutorial the lesson is ``y.requires_grad``,
``y.is_leaf``, ``y.grad_fn`` and ``y.grad``: the expected facts come from torch, computed
here from the tutorial's own lines, and ``x.grad`` from the tutorial's printed 4.5.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gradtui.model import codec
from gradtui.model.events import LineReached
from gradtui.ui.app import GradtuiApp
from gradtui.ui.evaluations import NEEDS_LIVE
from gradtui.ui.prompt import PromptScreen
from gradtui.ui.tensor_detail import TensorDetailScreen
from gradtui.ui.widgets.variables import VariablesView
from tests.apptools import THEME, live_app, panel_text, press, started, wait_until
from tests.conftest import SCENARIOS
from tests.recording_tools import record_json

SIZE = (120, 40)
MEAN_CHAIN = SCENARIOS / "mean_chain.py"
BACKWARD_LINE = 21  # out.backward()


def tutorial_tensors() -> dict[str, torch.Tensor]:
    """The tutorial's tensors, computed by torch directly, as they are at ``out.backward()``."""
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = 3 * (y ** 2)
    out = z.mean()
    return {"x": x, "y": y, "z": z, "out": out}


def var_block(text: str, name: str) -> list[str]:
    """The panel's lines for variable ``name``: its own line and the facts under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(name + "  "))
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = [lines[start].strip()]
    for line in lines[start + 1:]:
        if len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line.strip())
    return block


def fact(block: list[str], label: str) -> str:
    row = next(line for line in block if line.startswith(label + "  "))
    return row[len(label):].strip()


async def to_line(pilot, app: GradtuiApp, line: int) -> None:
    for _ in range(40):
        current = app.timeline.events[app.cursor]
        if isinstance(current, LineReached) and current.line == line:
            return
        await press(pilot, "n")
    raise AssertionError(f"never reached line {line}")


async def show_variables(pilot) -> None:
    await pilot.press("v")
    await pilot.pause()


async def test_the_tutorials_lesson_at_backward_then_after_then_back() -> None:
    torch_says = tutorial_tensors()
    app = live_app(MEAN_CHAIN)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await to_line(pilot, app, BACKWARD_LINE)
        await show_variables(pilot)
        text = panel_text(app, "#variables")
        y = var_block(text, "y")
        truth = torch_says["y"]
        assert fact(y, "requires_grad") == str(truth.requires_grad) == "True"
        assert fact(y, "is_leaf") == str(truth.is_leaf) == "False"
        assert fact(y, "grad_fn") == type(truth.grad_fn).__name__ == "AddBackward0"
        assert fact(y, ".grad") == "None"
        assert fact(y, "values") == "[[3, 3], [3, 3]]"
        assert fact(var_block(text, "z"), "grad_fn") == type(torch_says["z"].grad_fn).__name__
        assert fact(var_block(text, "x"), ".grad") == "None"
        assert fact(var_block(text, "x"), "is_leaf") == "True"
        assert "stack (u/d): ▶ <module> L21" in text
        # the graph names the nodes by the variables they made
        graph = panel_text(app, "#graph")
        assert "MeanBackward0 → out" in graph and "MulBackward0 → z" in graph and "AddBackward0 → y" in graph

        await press(pilot, "n")
        torch_says["out"].backward()
        x = var_block(panel_text(app, "#variables"), "x")
        assert fact(x, ".grad") == "[[4.5, 4.5], [4.5, 4.5]]"
        assert torch_says["x"].grad.tolist() == [[4.5, 4.5], [4.5, 4.5]]

        await press(pilot, "N")
        assert fact(var_block(panel_text(app, "#variables"), "x"), ".grad") == "None"
        await pilot.press("q")


async def test_evaluate_in_the_paused_frame_and_watch_across_steps() -> None:
    app = live_app(MEAN_CHAIN)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await to_line(pilot, app, BACKWARD_LINE)
        await pilot.press("colon")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), "the prompt")
        await pilot.press(*"y.grad_fn.next_functions", "enter")
        await wait_until(pilot, lambda: bool(app.evaluations.answers), "the answer")
        answer = app.evaluations.answers[0]
        assert answer.error is None and answer.value is not None
        text = panel_text(app, "#variables")
        assert "AccumulateGrad" in text and "0x" not in text
        await pilot.press("colon")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), "the prompt")
        await pilot.press(*"q_undefined", "enter")
        await wait_until(pilot, lambda: len(app.evaluations.answers) == 2, "the error")
        assert app.evaluations.answers[0].error == "NameError: name 'q_undefined' is not defined"

        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), "the watch prompt")
        await pilot.press(*"x.grad", "enter")
        await wait_until(pilot, lambda: "x.grad" in app.evaluations.watch_answers, "the watch")
        assert "None" in panel_text(app, "#variables")
        await press(pilot, "n")
        await wait_until(pilot, lambda: app.evaluations.watch_answers["x.grad"].seq == app.cursor, "the re-asked watch")
        value = app.evaluations.watch_answers["x.grad"].value
        assert value is not None and value.tensor is not None
        assert value.tensor.value.values == [[4.5, 4.5], [4.5, 4.5]]
        await pilot.press("q")


async def test_frames_up_and_down_in_a_function(tmp_path: Path) -> None:
    script = tmp_path / "calls.py"
    script.write_text("import torch\n\n\ndef scale(t, k):\n    u = t * k\n    return u\n\n\n"
                      "a = torch.ones(3, requires_grad=True)\nb = scale(a, 2.0)\nprint(b)\n")
    app = live_app(script)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await to_line(pilot, app, 5)  # inside scale
        await show_variables(pilot)
        text = panel_text(app, "#variables")
        assert "stack (u/d): ▶ scale L5 ◂ <module> L10" in text
        a = torch.ones(3, requires_grad=True)  # what the script passed in as t
        assert fact(var_block(text, "t"), "values") == "[1, 1, 1]" and a.tolist() == [1.0, 1.0, 1.0]
        assert fact(var_block(text, "t"), "is_leaf") == str(a.is_leaf)
        assert var_block(text, "k")[0] == "k  2.0"
        await pilot.press("u")
        await pilot.pause()
        text = panel_text(app, "#variables")
        assert "▶ <module> L10" in text and fact(var_block(text, "a"), "requires_grad") == "True"
        await pilot.press("d")
        await pilot.pause()
        assert "▶ scale L5" in panel_text(app, "#variables")
        await pilot.press("q")


async def test_tensor_detail_reads_the_whole_tensor_live(tmp_path: Path) -> None:
    script = tmp_path / "big.py"
    script.write_text("import torch\n\nt = torch.arange(1000.0) / 10\nprint(t.sum())\n")
    app = live_app(script)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await to_line(pilot, app, 4)
        await show_variables(pilot)
        tree = app.query_one(VariablesView)
        target = next(n for n in _walk(tree.root) if n.data is not None and n.data.name == "t"
                      and n.data.var is not None and n.data.var.tensor is not None)
        tree.select_node(target)
        await wait_until(pilot, lambda: isinstance(app.screen, TensorDetailScreen), "the detail view")
        screen = app.screen
        assert isinstance(screen, TensorDetailScreen)
        await wait_until(pilot, lambda: not app.evaluations.out and not app.evaluations.waiting, "the live read")
        await wait_until(pilot, lambda: str(screen.query_one("#detail-repr").content).startswith("tensor("),
                         "the values on screen")
        shown = str(screen.query_one("#detail-repr").content)
        torch.set_printoptions(threshold=10**9)
        try:
            expected = repr(torch.arange(1000.0) / 10)
        finally:
            torch.set_printoptions(profile="default")
        assert shown == expected
        # and its histogram: torch.histc's counts of the same values
        assert screen.query_one("#detail-histogram").display
        await pilot.press("escape")
        await pilot.press("q")


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


async def test_a_replay_shows_the_same_variables_and_cannot_evaluate(tmp_path: Path) -> None:
    recorded = record_json(MEAN_CHAIN, tmp_path / "run.json")
    app = GradtuiApp(codec.load(recorded), None, theme=THEME)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await to_line(pilot, app, BACKWARD_LINE)
        await show_variables(pilot)
        y = var_block(panel_text(app, "#variables"), "y")
        assert fact(y, "grad_fn") == "AddBackward0" and fact(y, "is_leaf") == "False"
        await pilot.press("colon")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert app._can_evaluate() == NEEDS_LIVE
        await pilot.press("q")


async def test_enter_in_the_gradients_panel_opens_the_leaf_in_full() -> None:
    """``theta.grad`` after the tutorial's second backward is 4 (2 + 2, accumulated)."""
    theta = torch.nn.Parameter(torch.Tensor([1]))
    for _ in range(2):
        (theta * theta).backward()
    app = live_app(SCENARIOS / "accumulation.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await to_line(pilot, app, 28)  # the print after the second backward (the tutorial says 4)
        app.query_one("#grads").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TensorDetailScreen), "the detail view")
        screen = app.screen
        assert isinstance(screen, TensorDetailScreen) and screen.title_text == "theta"
        facts = screen.var.tensor
        assert facts is not None and facts.grad is not None
        assert facts.grad.values == theta.grad.tolist() == [4.0]
        # its history in the frame: .grad None, then 2, then 4
        grads = [e.value.tensor.grad for e in screen.entries if e.value is not None and e.value.tensor is not None]
        assert [None if g is None else g.values for g in grads][-3:] == [None, [2.0], [4.0]]
        await pilot.press("escape")
        await pilot.press("q")
