"""The one writer of a run's timeline: every event is appended here and nowhere else.

The flow of a run: the script calls torch; the hooks (the function mode in ``ops``, the
backward hook, the optimizer hooks, the line tracer, the stream proxies) turn what it
did into event fields and hand them to ``Recorder.emit``; the recorder, under one lock,
first appends the output the script printed before (``StreamRouter``), then gives the
event its sequence number, appends it to the timeline, passes it to the sink (the
driver's: the TUI posts it, ``--trace`` prints it) and lets the script's thread through
the ``Gate``, which may pause it until the driver's next command.

How the run ended (``finish``, ``interrupt``) is written under the same lock, so the
driver's thread (a headless Ctrl-C) and the script's thread never write at once; once a
driver has marked the run interrupted, nothing more is appended, and the timeline it
saves is the one it marked. The lock is re-entrant because flushing output appends an
event from inside ``emit``.

What must not happen here: calling the driver except through the sink, or running any
of the script's code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from gradtui.engine.control import Gate, StopScript
from gradtui.engine.notes import NoteKeeper
from gradtui.engine.streams import StreamRouter
from gradtui.model.events import ErrorRaised, Event, OutputWritten
from gradtui.model.timeline import ErrorInfo, Timeline

EventSink = Callable[[Event], None]


class EventList(Protocol):
    """Where the events go: the timeline's list, or a recording's ``EventLog``."""

    def append(self, event: Event) -> None: ...
    def __len__(self) -> int: ...
#: How long a driver marking the run interrupted waits for the script's thread to leave
#: the writer (a sink blocked on a full pipe would hold it for good).
_INTERRUPT_WAIT_SECONDS = 1.0


class Recorder:
    """Appends events to ``timeline``; the only object that does."""

    def __init__(self, timeline: Timeline, gate: Gate, sink: EventSink | None, *, echo: bool,
                 display: Callable[[str], str], notes: NoteKeeper, log: EventList | None = None) -> None:
        self.timeline = timeline
        #: The events (``timeline.events`` when that is a list kept in memory).
        self.log: EventList = log if log is not None else timeline.events  # type: ignore[assignment]
        #: The errors that ended the script: a driver prints their tracebacks.
        self.errors: list[ErrorRaised] = []
        #: Replaced in a forked child (``ForkGuard``) by one that never waits.
        self.gate = gate
        self._sink = sink
        self._display = display
        self._notes = notes
        self._lock = threading.RLock()
        self._closed = False
        self.router = StreamRouter(self._output, echo=echo, lock=self._lock)
        #: The script's line that ran last: where output and end-of-run events are placed.
        self.where: tuple[str, int] = (display(timeline.script), 0)

    def at(self, frame: FrameType | None) -> tuple[str, int]:
        """``(file, line)`` of ``frame`` as the timeline names it; the last line without one."""
        if frame is None:
            return self.where
        return self._display(frame.f_code.co_filename), frame.f_lineno

    def emit(self, event_cls: type[Event], file: str, line: int, **fields: Any) -> int:
        """Append one event (what was printed before it comes first), then pass the gate; its seq."""
        with self._lock:
            self.router.flush_all()
            seq = len(self.log)
            self._append(event_cls(seq=seq, file=file, line=line, **fields))
            return seq

    def flush(self) -> None:
        """Append what the script printed and has not ended with a new line."""
        with self._lock:
            self.router.flush_all()

    def note(self, text: str) -> None:
        """A plain note from gradtui to the user, as stderr output at the script's line."""
        with self._lock:
            self.router.flush_all()
            self._output("stderr", text)

    def _output(self, stream: str, text: str) -> None:
        with self._lock:
            file, line = self.where
            notes = tuple(self._notes.on_output(text)) if stream == "stderr" else ()
            self._append(OutputWritten(seq=len(self.log), file=file, line=line, stream=stream,
                                       text=text, notes=notes))

    def _append(self, event: Event) -> None:
        if self._closed:
            raise StopScript  # the driver has ended the run and keeps what it has
        self.log.append(event)
        if isinstance(event, ErrorRaised):
            self.errors.append(event)
        if self._sink is not None:
            self._sink(event)
        self.gate.passing(event)

    def finish(self, status: str, exit_code: int, error: ErrorInfo | None) -> None:
        """The script's thread is done: write how the run ended, unless a driver already did."""
        with self._lock:
            tl = self.timeline
            if tl.status == "running":
                tl.status, tl.exit_code, tl.error = status, exit_code, error

    def interrupt(self) -> None:
        """A driver gives up on a script that does not stop: end the timeline as ``interrupted``.

        Output still pending is kept; the script's thread appends nothing after this.
        """
        acquired = self._lock.acquire(timeout=_INTERRUPT_WAIT_SECONDS)
        try:
            if self.timeline.status != "running":
                return
            if acquired:
                try:
                    self.router.flush_all()
                except StopScript:  # the gate stops after the output is appended
                    pass
            self._closed = True
            self.timeline.status = "interrupted"
            self.timeline.exit_code = 130
        finally:
            if acquired:
                self._lock.release()


class NotesOnce:
    """Notes gradtui says at most once a run (``torch.compile``, DataLoader workers)."""

    def __init__(self, recorder: Recorder, in_script_thread: Callable[[], bool]) -> None:
        self._recorder = recorder
        self._in_script_thread = in_script_thread
        self._said: set[str] = set()

    def __call__(self, key: str, text: str) -> None:
        if key in self._said or not self._in_script_thread():
            return
        self._said.add(key)
        self._recorder.note(text)
