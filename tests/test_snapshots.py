"""SVG snapshots of the debugger's screens (pytest-textual-snapshot).

Kept stable across machines: the theme is passed to the app, the render environment is
cleaned in conftest.py, nothing on screen shows a clock, an address or an absolute path,
and every snapshot is taken after the engine has settled. Update a baseline only after
looking at the report (``pytest --snapshot-update``, then review the SVG).
"""

from __future__ import annotations

import sys

import pytest
from textual.pilot import Pilot

from gradtui.model.events import BackwardDone, LineReached, StepTaken
from gradtui.ui.app import GradtuiApp
from gradtui.ui.tensor_detail import TensorDetailScreen
from gradtui.ui.widgets.variables import VariablesView
from tests.apptools import live_app, press, started, wait_until
from tests.conftest import SCENARIOS, SCRIPTS

SIZE = (120, 40)
#: Python 3.13 marks the failing call of ``explode()`` with carets where 3.11 and 3.12 print
#: the line alone: the script's traceback, as Python formats it, differs. A baseline each,
#: the other one skipped (a skipped test's baseline is not an unused one).
TRACEBACKS = [
    pytest.param("tracebacks-3.11", marks=pytest.mark.skipif(sys.version_info >= (3, 13), reason="Python < 3.13")),
    pytest.param("tracebacks-3.13", marks=pytest.mark.skipif(sys.version_info < (3, 13), reason="Python 3.13+")),
]


async def _backwards(pilot: Pilot[None], count: int) -> None:
    app = pilot.app
    assert isinstance(app, GradtuiApp)
    await started(pilot)
    while sum(isinstance(e, BackwardDone) for e in app.timeline.events[: app.cursor + 1]) < count \
            or not isinstance(app.timeline.events[app.cursor], BackwardDone):
        await press(pilot, "e")


def test_first_screen_of_accumulation(snap_compare) -> None:
    assert snap_compare(live_app(SCENARIOS / "accumulation.py"), run_before=started, terminal_size=SIZE)


def test_accumulation_after_its_fourth_backward(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _backwards(pilot, 4)

    assert snap_compare(live_app(SCENARIOS / "accumulation.py"), run_before=run_before, terminal_size=SIZE)


def test_after_an_sgd_step(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, GradtuiApp)
        await started(pilot)
        while not isinstance(app.timeline.events[app.cursor], StepTaken):
            await press(pilot, "e")

    assert snap_compare(live_app(SCENARIOS / "sgd_step.py"), run_before=run_before, terminal_size=SIZE)


@pytest.mark.parametrize("python", TRACEBACKS)
def test_script_error(snap_compare, python: str) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await started(pilot)
        await press(pilot, "c")

    assert snap_compare(live_app(SCRIPTS / "raises.py"), run_before=run_before, terminal_size=SIZE)


def test_help_screen(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await started(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(live_app(SCENARIOS / "accumulation.py"), run_before=run_before, terminal_size=SIZE)


def test_small_terminal_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await started(pilot)
        await press(pilot, "c")

    assert snap_compare(live_app(SCENARIOS / "accumulation.py"), run_before=run_before, terminal_size=(80, 24))


def test_inside_a_backward_pass(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, GradtuiApp)
        await started(pilot)
        while not isinstance(app.timeline.events[app.cursor], BackwardDone):
            await press(pilot, "e")
        await press(pilot, "s", "s")  # the second node: MulBackward0

    assert snap_compare(live_app(SCENARIOS / "mean_chain.py"), run_before=run_before, terminal_size=SIZE)


def test_a_loss_over_four_decades_on_a_log_scale(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await started(pilot)
        await press(pilot, "c")

    assert snap_compare(live_app(SCRIPTS / "loss_decades.py"), run_before=run_before, terminal_size=SIZE)


def test_a_loss_over_four_decades_at_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await started(pilot)
        await press(pilot, "c")

    assert snap_compare(live_app(SCRIPTS / "loss_decades.py"), run_before=run_before, terminal_size=(80, 24))


async def _at_backward_with_variables(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, GradtuiApp)
    await started(pilot)
    while not (isinstance(app.timeline.events[app.cursor], LineReached) and app.timeline.events[app.cursor].line == 21):
        await press(pilot, "n")
    await pilot.press("v")
    await pilot.pause()


def test_variables_at_backward_in_mean_chain(snap_compare) -> None:
    assert snap_compare(live_app(SCENARIOS / "mean_chain.py"), run_before=_at_backward_with_variables,
                        terminal_size=SIZE)


def test_tensor_detail_of_y(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _at_backward_with_variables(pilot)
        app = pilot.app
        assert isinstance(app, GradtuiApp)
        tree = app.query_one(VariablesView)
        line = next(n for n in _nodes(tree.root) if n.data is not None and n.data.name == "y" and not n.data.path)
        tree.select_node(line)
        await wait_until(pilot, lambda: isinstance(app.screen, TensorDetailScreen), "the detail view")
        screen = app.screen
        await wait_until(pilot, lambda: "3., 3." in str(screen.query_one("#detail-repr").content),
                         "torch's own repr, read live")
        await pilot.pause()

    assert snap_compare(live_app(SCENARIOS / "mean_chain.py"), run_before=run_before, terminal_size=SIZE)


def _nodes(node):  # type: ignore[no-untyped-def]
    yield node
    for child in node.children:
        yield from _nodes(child)


def test_a_percent_script_cell_by_cell(snap_compare) -> None:
    """``# %%`` cells under their labels, markdown as dim headings, after ``]`` twice: at zero_grad, grad 8."""
    async def run_before(pilot: Pilot[None]) -> None:
        await started(pilot)
        await press(pilot, "right_square_bracket", "right_square_bracket")

    assert snap_compare(live_app(SCENARIOS / "accumulation_cells.py"), run_before=run_before, terminal_size=SIZE)


def test_the_gradient_tutorial_notebook_at_its_zero_grad_cell(snap_compare) -> None:
    """The notebook cell by cell (In [n] labels, lines counted per cell), after ] reached In [20]."""
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, GradtuiApp)
        await started(pilot)
        for _ in range(40):
            event = app.timeline.events[app.cursor]
            if "zero_grad() : reset" in app._sources.get(event.file, "").split("\n")[event.line - 2]:
                break
            await press(pilot, "right_square_bracket")

    assert snap_compare(live_app(SCENARIOS / "notebooks" / "gradient_basics.ipynb"), run_before=run_before,
                        terminal_size=SIZE)
