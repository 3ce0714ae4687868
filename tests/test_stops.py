"""Breakpoints on events: each kind stops where it should, headless and in the app."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gradtui.model.events import BackwardDone, GradsZeroed, StepTaken
from gradtui.model.stops import EventStop, StopSpecError, parse_stop, reason
from tests.apptools import live_app, press, started
from tests.conftest import REPO, SCENARIOS, SCRIPTS


def gradtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gradtui", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_parse_stop() -> None:
    assert parse_stop("backward") == EventStop("backward")
    assert parse_stop("grad-norm>1e3") == EventStop("grad-norm", 1000.0)
    for bad in ("nope", "grad-norm>", "grad-norm>-1", "grad-norm>inf"):
        with pytest.raises(StopSpecError):
            parse_stop(bad)


@pytest.mark.parametrize(
    ("spec", "script", "line", "words"),
    [
        ("backward", SCENARIOS / "accumulation.py", 14, "a backward"),
        ("zero_grad", SCENARIOS / "sgd_step.py", 14, "a zero_grad"),
        ("step", SCENARIOS / "sgd_step.py", 18, "a step"),
        ("nan", SCRIPTS / "notes_nan.py", 7, "the loss is nan"),
        ("grad-norm>1e3", SCRIPTS / "notes_norms.py", 7, "big.grad has norm 2e+06 > 1000"),
        ("note", SCENARIOS / "accumulation.py", 27, "a note: theta.grad still held 2"),
    ],
)
def test_break_on_stops_a_trace_with_the_reason(spec: str, script, line: int, words: str) -> None:  # type: ignore[no-untyped-def]
    r = gradtui("--break-on", spec, "--trace", str(script))
    assert r.returncode == 3, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"gradtui: stopped at L{line} ") and words in last, last
    assert "Traceback" not in r.stderr


def test_break_on_that_never_matches_runs_to_the_end() -> None:
    r = gradtui("--break-on", "nan", "--trace", str(SCENARIOS / "sgd_loop.py"))
    assert r.returncode == 0 and "stopped" not in r.stderr


def test_unknown_break_on_is_a_usage_error() -> None:
    r = gradtui("--break-on", "sometimes", "--trace", str(SCENARIOS / "sgd_loop.py"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown --break-on 'sometimes'" in r.stderr


def test_reason_on_events() -> None:
    from gradtui.model.tensors import TensorSummary

    nan = TensorSummary((1,), "float32", values=[float("nan")])
    ok = TensorSummary((1,), "float32", values=[1.0])
    from gradtui.model.events import Change, Owner

    step = StepTaken(seq=3, file="s.py", line=9, optimizer=Owner("opt", "SGD"), params={"w": Change(ok, nan)}, state={},
                     hyperparams=())
    assert reason(EventStop("nan"), step) == "NaN or inf in the value of w"
    zero = GradsZeroed(seq=4, file="s.py", line=10, optimizer=Owner("opt", "SGD"), grads={"w": Change(ok, None)})
    assert reason(EventStop("nan"), zero) is None and reason(EventStop("zero_grad"), zero) == "a zero_grad"
    big = BackwardDone(seq=5, file="s.py", line=11, root="loss", loss=1.0, grads={"w": Change(None, TensorSummary(
        (2,), "float32", values=[3.0, 4.0]))}, loss_scale=None, graph=None)
    assert reason(EventStop("grad-norm", 4.9), big) == "w.grad has norm 5 > 4.9"
    assert reason(EventStop("grad-norm", 5.0), big) is None


async def test_palette_stops_continue_at_every_step_in_the_app() -> None:
    app = live_app(SCENARIOS / "sgd_loop.py")
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        app.toggle_stop(EventStop("step"))
        await press(pilot, "c")
        assert isinstance(app.timeline.events[app.cursor], StepTaken)
        first = app.cursor
        await press(pilot, "c")
        assert isinstance(app.timeline.events[app.cursor], StepTaken) and app.cursor > first
        await press(pilot, "C", "c")  # from the start, through the kept history
        assert app.cursor == first
        app.toggle_stop(EventStop("step"))
        await press(pilot, "c")
        assert app.timeline.status == "finished"
        await pilot.press("q")


async def test_the_command_palette_lists_and_toggles_event_breakpoints() -> None:
    app = live_app(SCRIPTS / "notes_nan.py")
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        for key in "first nan":
            await pilot.press("space" if key == " " else key)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.stops == [EventStop("nan")]
        await press(pilot, "c")
        event = app.timeline.events[app.cursor]
        assert isinstance(event, BackwardDone) and event.line == 7  # the loss became nan here
        await pilot.press("q")
