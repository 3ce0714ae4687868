"""The one writer: the recorder numbers events, puts pending output first, and after a
driver marks the run interrupted appends nothing more (the headless Ctrl-C path)."""

from __future__ import annotations

import io
import threading

import pytest

from gradtui.engine.control import Gate, StopScript
from gradtui.engine.notes import NoteKeeper
from gradtui.engine.recorder import Recorder
from gradtui.model.events import Event, LineReached, OutputWritten
from gradtui.model.navigation import Continue
from gradtui.model.timeline import Timeline


def make_recorder(seen: list[Event]) -> Recorder:
    timeline = Timeline(script="/tmp/s.py", argv=["/tmp/s.py"])
    return Recorder(timeline, Gate(Continue()), seen.append, echo=False, display=lambda f: f.rsplit("/", 1)[-1],
                    notes=NoteKeeper())


def test_pending_output_comes_before_the_next_event_and_seqs_count_up() -> None:
    seen: list[Event] = []
    rec = make_recorder(seen)
    rec.where = ("s.py", 3)
    rec.router.captured("stdout", "no newline yet", io.StringIO())
    rec.emit(LineReached, "s.py", 4, function="f")
    events = rec.timeline.events
    assert [type(e) for e in events] == [OutputWritten, LineReached]
    assert [e.seq for e in events] == [0, 1]
    out = events[0]
    assert isinstance(out, OutputWritten)
    assert (out.text, out.line) == ("no newline yet", 3)
    assert seen == events


def test_interrupt_keeps_pending_output_and_then_nothing_is_appended() -> None:
    rec = make_recorder([])
    rec.emit(LineReached, "s.py", 1, function="<module>")
    rec.router.captured("stdout", "half a line", io.StringIO())
    done = threading.Event()

    def driver() -> None:  # the headless main thread, as on a Ctrl-C
        rec.interrupt()
        done.set()

    threading.Thread(target=driver).start()
    assert done.wait(10)
    tl = rec.timeline
    assert (tl.status, tl.exit_code) == ("interrupted", 130)
    assert [e.kind for e in tl.events] == ["line", "output"]
    with pytest.raises(StopScript):
        rec.emit(LineReached, "s.py", 2, function="<module>")
    assert len(tl.events) == 2
    rec.finish("finished", 0, None)  # the script's thread ending later does not overwrite it
    assert (tl.status, tl.exit_code) == ("interrupted", 130)


def test_finish_writes_how_the_run_ended() -> None:
    rec = make_recorder([])
    rec.finish("exited", 3, None)
    assert (rec.timeline.status, rec.timeline.exit_code) == ("exited", 3)
