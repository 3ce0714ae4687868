"""The engine's reports: what a driver may read of the timeline, and when.

The app reads the timeline only as far as a report counts, so each report must count
exactly the events recorded before the script's thread stopped, hand over complete
summaries (statistics computed in the script's thread, never the driver's), and the
answer to ``input()`` must come back as a command.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gradtui.engine import capture
from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.model.navigation import Continue, NextEvent, StepOp
from gradtui.model.reports import Answer, Ended, InputWanted, Paused, Running
from tests.conftest import SCENARIOS

SCRIPTS = Path(__file__).parent / "scripts"
WAIT = 30.0


def live(script: Path, **options: object) -> Session:
    session = Session(load_script(str(script)), [], start_paused=True, ask_input=True, **options)  # type: ignore[arg-type]
    session.start()
    return session


def test_each_pause_is_reported_with_the_events_recorded_up_to_it() -> None:
    session = live(SCENARIOS / "accumulation.py")
    try:
        first = session.next_report(WAIT)
        assert first == Paused(seq=0, count=1, sources=first.sources)
        assert session.timeline.events[0].kind == "line"
        session.send(NextEvent())
        report = session.next_report(WAIT)
        assert isinstance(report, Paused)
        event = session.timeline.events[report.seq]
        assert report.count == report.seq + 1
        assert event.kind == "backward"
        assert event.grads["theta"].after.values == [2.0]  # the tutorial's first gradient
        assert "accumulation.py" in report.sources
        assert ".backward()" in report.sources["accumulation.py"]
        # Asked again before the next command, the engine says the same.
        assert session.next_report(0) == report
    finally:
        session.stop()
        assert session.join(WAIT)


def test_the_end_is_reported_once_and_for_good() -> None:
    session = live(SCENARIOS / "accumulation.py")
    try:
        assert isinstance(session.next_report(WAIT), Paused)
        session.send(Continue())
        report = session.next_report(WAIT)
        assert isinstance(report, Ended)
        assert (report.status, report.exit_code) == ("finished", 0)
        assert report.count == len(session.timeline.events)
        assert session.next_report(0) == report
    finally:
        assert session.join(WAIT)


def test_input_is_asked_by_a_report_and_answered_by_a_command() -> None:
    session = live(SCRIPTS / "hostile_asks.py")
    try:
        assert isinstance(session.next_report(WAIT), Paused)
        session.send(Continue())
        asked = session.next_report(WAIT)
        assert isinstance(asked, InputWanted)
        assert asked.prompt == "your name? "
        session.send(Answer(text="Ada"))
        ended = session.next_report(WAIT)
        assert isinstance(ended, Ended) and ended.status == "finished"
    finally:
        assert session.join(WAIT)
    printed = "".join(e.text for e in session.timeline.events if e.kind == "output")
    assert printed == "your name? Ada\nhello Ada\n"


def test_no_answer_is_end_of_input() -> None:
    session = live(SCRIPTS / "hostile_asks.py")
    try:
        session.next_report(WAIT)
        session.send(Continue())
        assert isinstance(session.next_report(WAIT), InputWanted)
        session.send(Answer(text=None))
        ended = session.next_report(WAIT)
        assert isinstance(ended, Ended) and ended.status == "error"
    finally:
        assert session.join(WAIT)
    assert session.timeline.error is not None and session.timeline.error.type == "EOFError"


def test_a_run_without_a_report_within_the_timeout_is_running(tmp_path: Path) -> None:
    script = tmp_path / "sleeps.py"
    script.write_text("import time\ntime.sleep(1.5)\n")
    session = live(script)
    try:
        session.next_report(WAIT)
        session.send(Continue())
        report = session.next_report(0.05)
        assert isinstance(report, Running)
        assert report.count >= 1
    finally:
        session.stop()
        assert session.join(WAIT)


def test_statistics_are_computed_in_the_scripts_thread_before_a_pause_is_reported(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    threads: list[str] = []
    original, original_many = capture.compute_stats, capture.compute_stats_many

    def counted(t):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return original(t)

    def counted_many(ts):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return original_many(ts)

    monkeypatch.setattr(capture, "compute_stats", counted)
    monkeypatch.setattr(capture, "compute_stats_many", counted_many)
    script = tmp_path / "big.py"
    script.write_text("import torch\nx = torch.arange(10000.0)\ny = x * 2\n")
    session = live(script, max_values=8)
    try:
        session.next_report(WAIT)
        known = 0
        while not any(e.kind == "op" and e.op == "mul" for e in session.timeline.events[:known]):
            session.send(StepOp())
            report = session.next_report(WAIT)
            assert isinstance(report, (Paused, Ended))
            known = report.count
        engine_threads = {"gradtui-script", "gradtui-stats"}  # the script's, and the capture's helper
        assert threads and set(threads) <= engine_threads
        mul = next(e for e in session.timeline.events if e.kind == "op" and e.op == "mul")
        stats = mul.output.stats  # read here, in the driver's thread: already computed
        assert stats is not None and stats.max == 19998.0 and stats.numel == 10000
        assert set(threads) <= engine_threads
    finally:
        session.stop()
        assert session.join(WAIT)
