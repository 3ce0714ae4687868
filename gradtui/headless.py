"""The drivers without a screen: ``--record`` writes the recording, ``--trace`` prints it live.

Both simply let the engine run to the end (``Continue`` with no breakpoints). The main
thread only waits, in short slices, so that Ctrl-C reaches it at once: it then stops the
script, still closes the recording (status ``interrupted``) and exits with 130, as Python
does; SIGTERM and SIGHUP do the same and exit with 143 and 129. The recording grows while
the script runs (``gradtui.model.store``), so even a SIGKILL leaves all but its last
half second. The script's own output reaches the terminal as it is printed; with ``--trace`` it
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
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from gradtui.engine.notes import GradNormLimits
from gradtui.engine.script import Script
from gradtui.engine.session import Session
from gradtui.model.events import Event, LineReached
from gradtui.model.formatting import location, trace_line
from gradtui.model.json_values import TimelineFormatError
from gradtui.model.stops import EventStop, first_reason
from gradtui.model.store.export import export_json
from gradtui.model.store.reader import Recording
from gradtui.model.store.writer import StoreError

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
        self._cells = script.cells if script.is_notebook else None
        self.session: Session | None = None
        self.broken = False

    def __call__(self, event: Event) -> None:
        if self.broken:
            return
        source = None
        if isinstance(event, LineReached):
            source = linecache.getline(os.path.join(self._folder, event.file), event.line)
        try:
            self._out.write(trace_line(event, self._main, source, self._cells) + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):
            self.broken = True
            if self.session is not None:
                self.session.stop()


def _recording_target(record: str | None, script: str) -> tuple[str | None, bool]:
    """Where the engine writes its recording, and whether ``record`` then gets v1 JSON exported.

    ``--record OUT.json`` (or a device, a pipe: ``/dev/stdout``) keeps its format: the run is
    recorded to the automatic recordings folder as it goes, and exported when it ends.
    Any other name is the recording itself, written while the script runs.
    """
    if record is None:
        return None, False
    path = Path(record)
    special = path.exists() and not path.is_file()
    if special or path.suffix.lower() == ".json":
        from gradtui.recordings import new_recording_path

        return str(new_recording_path(script)), True
    return record, False


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, a job scheduler, ``docker stop``, a closed terminal): end as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _termination_as_interrupt() -> Iterator[list[int]]:
    """While the run goes on, SIGTERM and SIGHUP raise ``_Terminated`` in the main thread.

    The list it yields receives the signal that ended the run, for the exit status
    (128 + the signal's number, as a shell reports a process killed by it).
    """
    got: list[int] = []
    parent = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != parent:
            # A forked child got the signal before its at-fork hook put the default back
            # (``_restore_in_child``): it dies of it, as under plain python.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        got.append(signum)
        raise _Terminated(signum)

    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread
            pass
    _DEFAULT_IN_CHILDREN.clear()
    _DEFAULT_IN_CHILDREN.update(previous)
    try:
        yield got
    finally:
        _DEFAULT_IN_CHILDREN.clear()
        for signum, old in previous.items():
            signal.signal(signum, old)


#: The signals (and their handlers before the run) that a process the script forks must not
#: inherit our handler for: a Pool's worker must die of SIGTERM as under plain python. With
#: the handler it ran Python cleanup instead, and a SIGTERM that arrived while the worker was
#: blocked (or just forked) could be lost, so Pool.terminate() waited for it for ever.
_DEFAULT_IN_CHILDREN: dict[int, Any] = {}


def _restore_in_child() -> None:
    for signum, old in list(_DEFAULT_IN_CHILDREN.items()):
        try:
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
        except (TypeError, ValueError, OSError):  # never the child's failure
            pass
    _DEFAULT_IN_CHILDREN.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restore_in_child)


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
    keep_steps: int | None = None,
    variables: bool = True,
) -> int:
    """Run ``script`` to the end headless; return the exit status for the process.

    ``variables``: record the script's variables at each line (``--no-variables`` turns it off)."""
    out, err = sys.stdout, sys.stderr
    stopped: tuple[Event, str] | None = None
    printer = TracePrinter(script, out) if trace else None
    store_path, export = _recording_target(record, script.path)
    options = {"mode": "trace" if trace else "record", "max_values": max_values, "watch": list(watch),
               "break_on": [str(s) for s in stops], "backward_nodes": record_nodes, "keep_steps": keep_steps,
               "variables": variables}
    try:
        session = Session(script, args, sink=printer, echo_output=not trace, max_values=max_values, watch=watch,
                          grad_norm_limits=GradNormLimits(*limits) if limits else None, stops=stops,
                          record_nodes=record_nodes, record=store_path, bounded=True, options=options,
                          keep_steps=keep_steps, variables=variables)
    except StoreError as exc:
        err.write(f"gradtui: {exc}\n")
        return 2
    if printer is not None:
        printer.session = session
    with _termination_as_interrupt() as signalled:
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
    for error in session.errors:
        if error.traceback:
            err.write(error.traceback)
            err.flush()
    if printer is not None and printer.broken:
        # Python's advice for a closed pipe: point stdout at devnull so exit stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if stopped is not None:
        event, why = stopped
        cells = script.cells if script.is_notebook else None
        err.write(f"gradtui: stopped at {location(event, os.path.basename(script.path), cells)} "
                  f"(event {event.seq + 1}): {why}\n")
        err.flush()
        timeline.status = "stopped"
    status = exit_status(timeline.status, timeline.exit_code)
    if signalled and timeline.status == "interrupted":
        status = 128 + signalled[0]
    timeline.exit_code = status  # what the file says is what the process exits with
    if record is not None:
        try:
            with _interrupts_held():
                session.close_recording()
                if export and store_path is not None:
                    export_json(Recording(store_path), record)
        except (OSError, TimelineFormatError) as exc:
            err.write(f"gradtui: cannot write the timeline to {record}: {getattr(exc, 'strerror', None) or exc}\n")
            status = 2
        except KeyboardInterrupt:
            what = f"{record} was not written" if export else f"{record} holds the run up to now"
            err.write(f"gradtui: interrupted while writing the timeline; {what}\n")
            status = EXIT_INTERRUPTED
    if not session.join(0):
        # The script's thread is stuck in one long C operation. Everything is saved; a
        # normal interpreter exit would wait on torch's runtime, so leave at once.
        out.flush()
        err.flush()
        os._exit(status)
    # Everything is written. The interpreter's exit would now walk every object for the
    # garbage collector: torch's and what the run left, about 1 s for a 4,500-event run
    # (0.15 s once frozen). Python promises no finalizer of cyclic garbage at exit anyway.
    gc.freeze()
    return status
