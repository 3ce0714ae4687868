"""The debugger app driven by Textual's Pilot on real scenarios: every key, every panel.

Expected values come from the tutorials (``theta.grad`` 2 → 4 → 6 → 8, the SGD step
1 → 0.6) and from torch's own names, not from earlier runs of the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import TabbedContent

from gradtui.model import codec
from gradtui.model.events import BackwardDone, GradsZeroed, LineReached, StepTaken
from gradtui.model.store.reader import Recording, StoredEvents
from gradtui.model.timeline import Timeline
from gradtui.ui.app import GradtuiApp
from gradtui.ui.help import HelpScreen
from tests.apptools import THEME, live_app, panel_text, press, run_of, started, wait_until
from tests.conftest import SCENARIOS, SCRIPTS
from tests.recording_tools import record_json, recording_of

SIZE = (120, 40)
#: A replay opens a v1 JSON timeline, or a recording (an SQLite file read as the app asks).
REPLAY_FORMS = ["json", "recording"]
ACCUMULATION_GRADS = "theta.grad  None → 2 → 4 → 6 → 8 ⟲ zero_grad → None → 2 ⟲ zero_grad → None → 2"


def words(text: str) -> str:
    return " ".join(text.split())


def _current(app: GradtuiApp):
    return app.timeline.events[app.cursor]


async def test_first_screen_then_continue_shows_grads_accumulate() -> None:
    app = live_app(SCENARIOS / "accumulation.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.cursor == 0 and isinstance(_current(app), LineReached) and _current(app).line == 1
        assert panel_text(app, "#status").startswith("event 1 / 1+ · line 1")
        assert "no backward() yet" in panel_text(app, "#grads")

        await press(pilot, "c")
        assert app.timeline.status == "finished"
        assert app.cursor == len(app.timeline.events) - 1
        assert words(ACCUMULATION_GRADS) in words(panel_text(app, "#grads"))
        graph = panel_text(app, "#graph")
        assert "MulBackward0" in graph and "AccumulateGrad · theta" in graph
        assert "root of backward #6" in graph
        output = panel_text(app, "#output")
        for value in ("tensor([2.])", "tensor([4.])", "tensor([6.])", "tensor([8.])", "theta.grad=None"):
            assert value in output
        assert "the script finished" in panel_text(app, "#status")
        await pilot.press("q")
    assert app.engine is not None and app.engine.join(10)


async def test_step_line_and_event_keys_move_forward() -> None:
    app = live_app(SCENARIOS / "accumulation.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "s")
        assert app.cursor == 1
        await press(pilot, "n")
        assert isinstance(_current(app), LineReached) and _current(app).seq > 1
        await press(pilot, "e")
        event = _current(app)
        assert isinstance(event, BackwardDone) and event.line == 14
        status = panel_text(app, "#status")
        assert "backward #1" in status
        assert "theta.grad None → 2 (the first gradient)" in status
        assert "None → 2" in panel_text(app, "#grads")
        await press(pilot, "e")
        status = panel_text(app, "#status")
        assert "theta.grad 2 → 4 (added to the old value; nothing reset it)" in status
        assert "⚠ theta.grad still held 2 from an earlier backward()" in status
        await pilot.press("q")
    assert app.engine is not None and app.engine.join(10)


async def test_back_keys_walk_the_kept_history() -> None:
    app = live_app(SCENARIOS / "accumulation.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "c")
        events = app.timeline.events
        end = app.cursor
        await press(pilot, "E")  # the last backward, from the end
        assert isinstance(_current(app), BackwardDone) and app.cursor < end
        await press(pilot, "E")  # the zero_grad before it
        assert isinstance(_current(app), GradsZeroed)
        assert "theta.grad 2 None set to None" in words(panel_text(app, "#params"))
        at = app.cursor
        await press(pilot, "S")
        assert app.cursor == at - 1
        await press(pilot, "N")
        assert isinstance(_current(app), LineReached) and app.cursor < at - 1
        await press(pilot, "C")
        assert app.cursor == 0 and "no backward() yet" in panel_text(app, "#grads")
        # Forward again through the history: nothing is re-run, the same events come back.
        count = len(events)
        await press(pilot, "e", "e", "e", "e")
        assert isinstance(_current(app), BackwardDone) and len(events) == count
        assert "theta.grad 6 → 8" in panel_text(app, "#status")
        await pilot.press("q")


async def test_breakpoint_stops_continue_on_its_line_each_time() -> None:
    app = live_app(SCENARIOS / "sgd_loop.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        while not (isinstance(_current(app), LineReached) and _current(app).line == 17):
            await press(pilot, "n")
        await press(pilot, "b")
        assert ("sgd_loop.py", 17) in app.breakpoints
        assert "●" in panel_text(app, "#source")
        await press(pilot, "c")  # runs the engine to the next loop iteration's line 17
        assert isinstance(_current(app), LineReached) and _current(app).line == 17
        steps = [e for e in app.timeline.events[: app.cursor] if isinstance(e, StepTaken)]
        assert len(steps) == 1
        # The second pass zeroed the grad of sum(t²) at t = [1, -1], which was 2t = [2, -2].
        assert "tensor.grad [2, -2] None set to None" in words(panel_text(app, "#params"))
        await press(pilot, "C", "c")  # from the start, continue stops at the first hit, from history
        assert _current(app).line == 17 and not [e for e in app.timeline.events[: app.cursor]
                                                  if isinstance(e, StepTaken)]
        await press(pilot, "b")
        assert not app.breakpoints
        await press(pilot, "c")
        assert app.timeline.status == "finished"
        await pilot.press("q")


async def test_sgd_step_shows_parameter_change_and_optimizer_state() -> None:
    app = live_app(SCENARIOS / "sgd_step.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        while not isinstance(_current(app), StepTaken):
            await press(pilot, "e")
        params = panel_text(app, "#params")
        assert "optimiser.step() · line 18" in params
        assert "theta" in params and "1 " in params and "0.6" in params and "-0.4" in params
        assert "opt" in panel_text(app, "#status") and "theta 1 → 0.6" in panel_text(app, "#status")
        app.query_one(TabbedContent).active = "optimizer-tab"  # the panel draws when its tab opens
        await pilot.pause()
        optimizer = panel_text(app, "#optimizer")
        assert "SGD" in optimizer and "lr=0.2" in optimizer
        await pilot.press("q")


async def test_script_error_keeps_the_app_open_with_every_event() -> None:
    app = live_app(SCRIPTS / "raises.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "c")
        assert app.timeline.status == "error"
        status = panel_text(app, "#status")
        assert "RuntimeError: boom from the script" in status and "raised an error" in status
        output = panel_text(app, "#output")
        assert "before boom 2" in output and 'line 8, in explode' in output and "gradtui" not in output
        await press(pilot, "S")
        assert app.cursor == len(app.timeline.events) - 2
        await pilot.press("q")


async def test_help_opens_and_closes_and_q_quits() -> None:
    app = live_app(SCENARIOS / "first_backward.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("q")
    assert app.engine is not None and app.engine.join(10)
    assert run_of(app).status == "interrupted"


@pytest.mark.parametrize("key", ["S", "N", "E"])
async def test_nothing_earlier_says_so_and_stays(key: str) -> None:
    app = live_app(SCENARIOS / "first_backward.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, key)
        assert app.cursor == 0
        await pilot.press("q")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``recorded(scenario, *flags)``: the JSON ``gradtui [FLAGS] --record`` wrote for it (made once)."""
    made: dict[tuple[str, ...], Path] = {}

    def record(scenario: str, *flags: str) -> Path:
        key = (scenario, *flags)
        if key not in made:
            folder = tmp_path_factory.mktemp(scenario.replace(".py", ""))
            made[key] = record_json(SCENARIOS / scenario, folder / "run.json", *flags)
        return made[key]

    return record


def replayed(json_path: Path, form: str, tmp_path: Path) -> Timeline:
    """The recorded run as ``--replay`` opens it: the JSON, or the same run filed as a recording."""
    if form == "json":
        return codec.load(json_path)
    timeline = Recording(recording_of(json_path, tmp_path / "run.db")).timeline()
    assert isinstance(timeline.events, StoredEvents)  # read from the file as the app asks
    return timeline


@pytest.mark.parametrize("form", REPLAY_FORMS)
async def test_replay_of_a_recorded_timeline(tmp_path, recorded, form: str) -> None:
    app = GradtuiApp(replayed(recorded("accumulation.py"), form, tmp_path), None, theme=THEME)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.cursor == 0  # a replay opens where the run began
        assert "no backward() yet" in panel_text(app, "#grads")
        await press(pilot, "c")
        assert app.cursor == len(app.timeline.events) - 1
        assert words(ACCUMULATION_GRADS) in words(panel_text(app, "#grads"))
        assert "loss = theta * theta" in panel_text(app, "#source")
        assert "the script finished" in panel_text(app, "#status")
        await press(pilot, "C", "e")
        assert "theta.grad None → 2 (the first gradient)" in panel_text(app, "#status")
        # The tutorial's accumulation, one backward per key: nothing resets theta.grad.
        for before, after in ((2, 4), (4, 6), (6, 8)):
            await press(pilot, "e")
            assert f"theta.grad {before} → {after} (added to the old value" in panel_text(app, "#status")
        assert "theta.grad None → 2 → 4 → 6 → 8" in words(panel_text(app, "#grads"))
        await press(pilot, "E")
        assert "theta.grad 4 → 6" in panel_text(app, "#status")
        await pilot.press("q")
    assert app.failure is None


async def test_a_recording_damaged_while_it_is_replayed_ends_the_app_with_one_sentence(tmp_path, recorded) -> None:
    import gc

    thresholds = gc.get_threshold()
    db = recording_of(recorded("accumulation.py"), tmp_path / "run.db")
    recording = Recording(db)
    app = GradtuiApp(recording.timeline(), None, theme=THEME)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        recording.close()  # every query from here on fails, as a page gone bad would
        # Not ``pilot.press`` nor ``pilot.pause``: they wait for a screen that has closed by then.
        app.simulate_key("c")
        for _ in range(1000):
            if app.failure is not None:
                break
            await asyncio.sleep(0.02)
    assert app.failure is not None
    assert app.failure.startswith(f"{db}: the recording is damaged") and "\n" not in app.failure
    assert gc.get_threshold() == thresholds  # closed without an unmount: full collections are CPython's again

async def test_watch_plots_plain_python_descent() -> None:
    app = live_app(SCENARIOS / "gd_plain_python.py", watch=("theta",))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "c")
        plot = app.query_one("#plot")
        assert plot.border_title == "Plot · theta per update (log)"  # 1.0 down to 3.7e-5
        from gradtui.model.history import watch_points

        values = [v for _, v in watch_points(app.timeline.events, app.cursor, "theta")]
        assert values[:3] == [1.0, 0.6, 0.36]
        assert values[-1] == pytest.approx(3.656158440062973e-05)
        await pilot.press("q")


async def test_source_follows_the_script_into_its_sibling_module_and_back() -> None:
    app = live_app(SCRIPTS / "sibling_import.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        while not (_current(app).file == "helpers_mod.py" and _current(app).line == 5):
            await press(pilot, "n")
        assert isinstance(_current(app), LineReached) and _current(app).function == "square"
        source = app.query_one("#source")
        assert source.border_title == "Source · helpers_mod.py"
        assert "▶5     return t * t" in panel_text(app, "#source")
        await press(pilot, "s")  # the multiplication inside square(): an op of the script's own code
        # The leaf keeps the name the script gave it (w), also inside square(t).
        assert _current(app).op == "mul" and _current(app).args == ("w", "w")
        await press(pilot, "e")
        assert source.border_title == "Source · sibling_import.py"
        # d/dw sum(w * w) = 2w = [6, -2]
        assert "w.grad None → [6, -2]" in words(panel_text(app, "#grads"))
        await pilot.press("ctrl+q")
    assert app.engine is not None and app.engine.join(10)


async def continue_to_input(pilot) -> None:  # type: ignore[no-untyped-def]
    """Run hostile_asks.py with ``c`` until it calls input() and the app asks."""
    from gradtui.ui.ask import AskScreen

    await started(pilot)
    await pilot.press("c")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, AskScreen), "the input screen")


async def test_input_is_asked_in_the_app() -> None:

    app = live_app(SCRIPTS / "hostile_asks.py")
    async with app.run_test(size=SIZE) as pilot:
        await continue_to_input(pilot)
        assert app.screen.prompt == "your name? "
        await pilot.press("A", "d", "a", "enter")
        await wait_until(pilot, lambda: app.timeline.status == "finished" and not app.running, "the end")
        output = panel_text(app, "#output")
        assert "your name? Ada" in output and "hello Ada" in output
        await pilot.press("q")


async def test_escape_at_input_is_end_of_input() -> None:

    app = live_app(SCRIPTS / "hostile_asks.py")
    async with app.run_test(size=SIZE) as pilot:
        await continue_to_input(pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.timeline.status == "error" and not app.running, "the error")
        assert app.timeline.error.type == "EOFError"
        await pilot.press("q")


async def test_quitting_while_the_script_waits_for_input() -> None:

    app = live_app(SCRIPTS / "hostile_asks.py")
    async with app.run_test(size=SIZE) as pilot:
        await continue_to_input(pilot)
        await pilot.press("ctrl+q")
    assert app.engine is not None and app.engine.join(5)
    assert run_of(app).status == "interrupted"


async def test_s_steps_into_backward_node_by_node_and_e_steps_over() -> None:
    app = live_app(SCENARIOS / "mean_chain.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        while not isinstance(_current(app), BackwardDone):
            await press(pilot, "e")
        backward = app.cursor
        await press(pilot, "s")
        assert app.node_cursor == 0
        status = panel_text(app, "#status")
        assert "inside backward: node 1 / 5" in status
        assert "MeanBackward0 received 1, sent [[0.25, 0.25], [0.25, 0.25]]" in status
        assert "MeanBackward0" in panel_text(app, "#graph") and "◀ received 1" in panel_text(app, "#graph")
        await press(pilot, "s", "s", "s", "s")
        assert app.node_cursor == 4 and app.cursor == backward
        # The last node writes into the leaf: 4.5 reaches x.grad, set from None.
        written = "AccumulateGrad writes [[4.5, 4.5], [4.5, 4.5]] into x.grad (set from None)"
        assert written in panel_text(app, "#status")
        await press(pilot, "S")
        assert app.node_cursor == 3 and "AddBackward0 received" in panel_text(app, "#status")
        await press(pilot, "s", "s")
        assert app.node_cursor is None and app.cursor == backward + 1  # past the last node: on to the next event
        await press(pilot, "E")
        assert app.cursor == backward and app.node_cursor is None
        await press(pilot, "s", "n")  # n steps over the rest of the pass, to the next line
        assert app.node_cursor is None and isinstance(_current(app), LineReached) and app.cursor > backward
        await press(pilot, "E")
        await press(pilot, "e")  # e steps over the backward pass as a whole
        assert app.node_cursor is None and app.cursor > backward
        await pilot.press("q")


@pytest.mark.parametrize("form", REPLAY_FORMS)
async def test_replay_steps_into_a_recorded_backward(tmp_path, recorded, form: str) -> None:
    timeline = replayed(recorded("mean_chain.py", "--backward-nodes"), form, tmp_path)
    app = GradtuiApp(timeline, None, theme=THEME)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "e", "s")
        assert "MeanBackward0 received 1, sent [[0.25, 0.25], [0.25, 0.25]]" in panel_text(app, "#status")
        await pilot.press("q")
