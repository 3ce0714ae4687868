"""The drivers without a screen: ``--record`` writes the timeline, ``--trace`` prints it live.

Both simply let the engine run to the end (``Continue`` with no breakpoints). The main
thread only waits, in short slices, so that Ctrl-C reaches it at once: it then stops the
script, still writes the timeline (status ``interrupted``) and exits with 130, as Python
does. The script's own output reaches the terminal as it is printed; with ``--trace`` it
appears in place as ``output`` lines, so the log reads in the order things happened.

The timeline's ``exit_code`` is the process's exit status, whatever ended the run (a
``--break-on`` stop is status ``stopped``, 3); a Ctrl-C while the timeline is being
written is held until it is on disk, a second one abandons the write.
"""

from __future__ import annotations

import contextlib
import gc
import linecache
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import TextIO

from gradtui.engine.notes import GradNormLimits
from gradtui.engine.script import Script
from gradtui.engine.session import Session
from gradtui.model import codec
from gradtui.model.events import ErrorRaised, Event, LineReached
from gradtui.model.formatting import location, trace_line
from gradtui.model.stops import EventStop, first_reason

EXIT_INTERRUPTED = 130
_STOP_GRACE_SECONDS = 2.0
#: Exit status when a --break-on stop ended the run (the reason is on stderr; status ``stopped``).
STOPPED = 3


def exit_status(status: str, exit_code: int | None) -> int:
    """The process's exit status for a run that ended so: 0..255, as the system reports it."""
    if status == "finished":
        return 0
    if status == "error":
        return 1
    if status == "interrupted":
        return EXIT_INTERRUPTED
    if status == "stopped":
        return STOPPED
    # sys.exit(True) exits 1 and sys.exit(-1) 255: the system keeps the low byte.
    return int(exit_code) & 0xFF if exit_code is not None else 0


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold a Ctrl-C until the block is done; a second one raises KeyboardInterrupt at once
    (writing into a pipe nobody reads would otherwise never end)."""
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)
        if len(held) > 1:
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, hold)
    except ValueError:  # not the main thread: signals are not ours to hold
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class TracePrinter:
    """Prints one line per event to ``out``; stops the run if ``out`` goes away (``| head``)."""

    def __init__(self, script: Script, out: TextIO) -> None:
        self._out = out
        self._main = os.path.basename(script.path)
        self._folder = script.folder
        self.session: Session | None = None
        self.broken = False

    def __call__(self, event: Event) -> None:
        if self.broken:
            return
        source = None
        if isinstance(event, LineReached):
            source = linecache.getline(os.path.join(self._folder, event.file), event.line)
        try:
            self._out.write(trace_line(event, self._main, source) + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):
            self.broken = True
            if self.session is not None:
                self.session.stop()


def run(
    script: Script,
    args: list[str],
    *,
    record: str | None = None,
    trace: bool = False,
    max_values: int = 64,
    watch: tuple[str, ...] = (),
    limits: tuple[float | None, float | None] | None = None,
    stops: tuple[EventStop, ...] = (),
    record_nodes: bool = False,
) -> int:
    """Run ``script`` to the end headless; return the exit status for the process."""
    out, err = sys.stdout, sys.stderr
    stopped: tuple[Event, str] | None = None
    printer = TracePrinter(script, out) if trace else None
    session = Session(script, args, sink=printer, echo_output=not trace, max_values=max_values, watch=watch,
                      grad_norm_limits=GradNormLimits(*limits) if limits else None, stops=stops,
                      record_nodes=record_nodes)
    if printer is not None:
        printer.session = session
    try:
        # start() is inside the try: the script may print (and the user press Ctrl-C)
        # before Thread.start() has even returned.
        session.start()
        while not session.join(0.1):
            paused = session.paused_at
            if paused is not None:  # only a --break-on stop pauses a headless run
                stopped = (paused, first_reason(stops, paused) or "a breakpoint")
                session.stop()
    except KeyboardInterrupt:
        session.stop()
        try:
            if not session.join(_STOP_GRACE_SECONDS):
                session.mark_interrupted()  # stuck in one long C operation: keep what we have
        except KeyboardInterrupt:
            session.mark_interrupted()
    timeline = session.timeline
    for event in timeline.events:
        if isinstance(event, ErrorRaised) and event.traceback:
            err.write(event.traceback)
            err.flush()
    if printer is not None and printer.broken:
        # Python's advice for a closed pipe: point stdout at devnull so exit stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if stopped is not None:
        event, why = stopped
        err.write(f"gradtui: stopped at {location(event, os.path.basename(script.path))} "
                  f"(event {event.seq + 1}): {why}\n")
        err.flush()
        timeline.status = "stopped"
    status = exit_status(timeline.status, timeline.exit_code)
    timeline.exit_code = status  # what the file says is what the process exits with
    if record is not None:
        try:
            with _interrupts_held():
                codec.save(timeline, record)
        except OSError as exc:
            err.write(f"gradtui: cannot write the timeline to {record}: {exc.strerror}\n")
            status = 2
        except KeyboardInterrupt:
            err.write(f"gradtui: interrupted while writing the timeline; {record} was not written\n")
            status = EXIT_INTERRUPTED
    if not session.join(0):
        # The script's thread is stuck in one long C operation. Everything is saved; a
        # normal interpreter exit would wait on torch's runtime, so leave at once.
        out.flush()
        err.flush()
        os._exit(status)
    # Everything is written. The interpreter's exit would now walk every object for the
    # garbage collector: the timeline's and torch's, about 1 s for a 4,500-event run
    # (0.15 s once frozen). Python promises no finalizer of cyclic garbage at exit anyway.
    gc.freeze()
    return status
