"""The one writer of a recording: events go in from the script's thread, rows are made in a process of their own.

``add`` queues the event. Each batch of queued events has its deferred statistics computed
(``prepare``: the engine's, with torch), is pickled (``transport``) and handed over a pipe to
the writer's process (``writer_process``), which turns the events into rows (``row_writer``:
the payloads, the tensors' raw bytes, the step summaries) and commits each batch in one
transaction, at least every ``commit_seconds``. Making the rows used to run on a thread of
the script's process, taking turns with the script on one GIL: about 30% of the training
loop's time on the small benchmark MLP, now done on another core. A run killed by SIGKILL
keeps everything committed (the writer's process sees its pipe close and stops).

Who sends a batch: the script's own thread (``send_here``) each time ``SEND_EVERY`` items
are queued, and otherwise a thread of the writer's (``gradtui-store``), once
``commit_seconds`` passed since the last batch either sent, and on ``flush``. Sent by the
thread that made them, a batch's objects are pickled while they are still in that core's
cache; handed to another thread, every object crossed to the other core and back, and
the threads took turns on the GIL across cores: with the script's thread sending, the
LSTM benchmark's loop (1,200 events a step) took 18% less, the small MLP's the same within
the noise (``benchmarks/README.md``).

The queue is bounded: a script that makes events faster than they can be written waits in
``add``, so memory stays flat however long the run. ``flush`` returns once everything
queued is committed (before a pause is reported, a reader sees every reported event);
``close`` writes how the run ended and turns the file back into one self-contained
database (no ``-wal`` beside it). Where no process can be started (no ``sys.executable``),
or the one started ends before it says it is ready, the same writer runs on a thread of
this process instead: the run is recorded either way.

A forked child (a DataLoader worker) inherits the writer but must never touch the file:
after a fork the writer drops whatever the child adds.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gradtui.model.events import Event
from gradtui.model.graph import GraphNode
from gradtui.model.store import transport, writer_process
from gradtui.model.store.schema import FORMAT_NAME, SCHEMA_VERSION, TABLES, configure_writer
from gradtui.model.timeline import ErrorInfo

#: Commits come at least this often while events arrive (the issue's bound is half a second).
COMMIT_SECONDS = 0.25
#: Events queued and not yet written, at most: past it the script's thread waits.
MAX_QUEUED = 1024
#: A thread ``send_here`` allows sends the queued batch itself once this many items are queued.
SEND_EVERY = 256
#: How long ``close`` waits for the writer's process to finish the file.
FINISH_SECONDS = 60.0
#: The directory holding the ``gradtui`` package: the writer's process imports this one.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])

_writers: weakref.WeakSet[StoreWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _serve_here(path: str, keep_steps: int | None, inp: int, out: int) -> None:
    """The writer's process's work, on a thread of this process (where no process can start)."""
    with os.fdopen(inp, "rb") as reading, os.fdopen(out, "wb") as answering:
        try:
            writer_process.serve(path, keep_steps, reading, answering)
        except BrokenPipeError:
            pass


class StoreError(OSError):
    """The recording cannot be written (disk full, the file removed): one sentence."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the ``run`` row says before the run ends."""

    script: str
    argv: list[str]
    max_values: int = 64
    torch_version: str | None = None
    gradtui_version: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class StoreWriter:
    """Writes one run to the SQLite file at ``path`` (replaced if it exists)."""

    def __init__(self, path: str | os.PathLike[str], info: RunInfo, *,
                 sources: Callable[[], Mapping[str, str]] | None = None,
                 commit_seconds: float = COMMIT_SECONDS, max_queued: int = MAX_QUEUED,
                 keep_steps: int | None = None, prepare: Callable[[], object] | None = None,
                 send_here: Callable[[], bool] | None = None, send_every: int = SEND_EVERY) -> None:
        """``keep_steps``: keep the detail of only the last that many optimizer steps (``pruning``).
        ``prepare``: called on the thread that sends a batch, before it is sent (the engine
        computes the batch's deferred statistics there, all together).
        ``send_here``: true in a thread that sends the queued batch itself once ``send_every``
        items are queued (the script's: never the app's, which must not run torch)."""
        self.path = Path(path)
        self._prepare = prepare
        self._sources = sources
        self._commit_seconds = commit_seconds
        self._max_queued = max_queued
        self._send_here = send_here
        self._send_every = send_every
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            try:
                configure_writer(db)
                db.executescript(TABLES)
                db.execute("BEGIN")
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [("format", FORMAT_NAME), ("version", str(SCHEMA_VERSION))])
                now = time.time()
                db.execute(
                    "INSERT INTO run (id, script, argv, status, max_values, torch_version, gradtui_version, "
                    "python_version, options, pid, host, started, updated) "
                    "VALUES (1, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (info.script, json.dumps(info.argv), info.max_values, info.torch_version, info.gradtui_version,
                     sys.version.split()[0], json.dumps(dict(info.options), default=str), os.getpid(),
                     socket.gethostname(), now, now))
                db.execute("COMMIT")
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot create the recording ({exc})") from None
        self._lock = threading.Condition()
        #: Held while a batch is taken from the queue and sent: batches go in queue order.
        self._sending = threading.Lock()
        self._queue: list[tuple[str, Any]] = []
        self._queued = 0  # items ever queued
        #: When a thread last took the queue to send it (``_loop`` waits from there).
        self._last_send = time.monotonic()
        self._written = 0  # items ever committed
        self._flush_wanted = False
        self._closing = False
        self._closed = False
        self._disabled = False
        self._finished = False
        self.failure: StoreError | None = None
        self._thread: threading.Thread | None = None
        self._sources_sent: set[str] = set()
        self._proc: subprocess.Popen[bytes] | None = None
        self._keep_steps = keep_steps
        #: Whether the writer said it is ready; whether a process ended before it could.
        self._ready = False
        self._never_ready = False
        self._to_writer = -1
        self._start_writer(process=True)
        _writers.add(self)

    def _start_writer(self, process: bool) -> None:
        """Start the writer's process (or its thread: where no process can start, or one did not)."""
        keep_steps = self._keep_steps
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        args = [str(self.path)] + ([] if keep_steps is None else [str(keep_steps)])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        self._ready = self._never_ready = False
        try:
            if not process or not sys.executable:
                raise OSError("no Python executable to start")
            # -P: the script's directory is not put first on sys.path (a script's own
            # ``json.py`` must not shadow the writer's). A session of its own: the
            # terminal's Ctrl-C is the script's, and the script's side closes the file.
            self._proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "gradtui.model.store.writer_process", *args],
                stdin=to_r, stdout=from_w, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        except OSError:
            threading.Thread(target=_serve_here, args=(str(self.path), keep_steps, to_r, from_w),
                             name="gradtui-store-rows", daemon=True).start()
        else:
            os.close(to_r)
            os.close(from_w)
        self._to_writer = to_w
        self._from_writer: BinaryIO = os.fdopen(from_r, "rb", buffering=0)
        self._answers = threading.Thread(target=self._read_answers, args=(self._from_writer,),
                                         name="gradtui-store-answers", daemon=True)
        self._answers.start()

    def _await_ready(self) -> None:
        """Before the first frame: wait for the writer to say it is ready. A process that
        ended first (it could not start: a broken installation, a sandbox that forbids it)
        is replaced by the thread, so that the run is recorded all the same."""
        with self._lock:
            while not self._ready and not self._never_ready and self.failure is None:
                self._lock.wait(0.05)
            if self._ready or self.failure is not None or self._proc is None:
                return
        self._proc.wait()
        self._proc = None
        os.close(self._to_writer)
        self._from_writer.close()
        self._start_writer(process=False)
        self._await_ready()

    # ------------------------------------------------------------------ script's side

    def add(self, event: Event) -> None:
        self._put("e", event)

    def add_node(self, node: GraphNode) -> None:
        self._put("n", node)

    def hold(self) -> None:
        """The run stopped here (a pause of the debugger): with ``keep_steps``, this step keeps its detail."""
        self._put("h", None)

    def _put(self, what: str, item: Any) -> None:
        if self._disabled:
            return
        with self._lock:
            if self._closing or self.failure is not None:
                return
            self._queue.append((what, item))
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="gradtui-store", daemon=True)
                self._thread.start()
            queued = len(self._queue)
            if queued >= self._max_queued:
                self._lock.notify_all()
                while len(self._queue) >= self._max_queued // 2 and self.failure is None and self._alive():
                    self._lock.wait(0.05)
                return
        if queued >= self._send_every and self._send_here is not None and self._send_here():
            trace = sys.gettrace()  # the script's line tracer (3.11) has no business in the pickling
            if trace is not None:
                sys.settrace(None)
            try:
                self._send_queued(inline=True)
            finally:
                if trace is not None:
                    sys.settrace(trace)

    def flush(self) -> None:
        """Return once everything added so far is committed (raises ``StoreError`` if it cannot be)."""
        if self._disabled:
            return
        with self._lock:
            target = self._queued
            self._flush_wanted = True
            self._lock.notify_all()
            while self._written < target and self.failure is None and self._alive():
                self._lock.wait(0.05)
        if self.failure is not None:
            raise self.failure

    def close(self, status: str, exit_code: int | None, error: ErrorInfo | None) -> None:
        """Commit the rest, write how the run ended, and leave one self-contained file."""
        if self._disabled or self._closed:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                self._closing = True
                self._lock.notify_all()
            if self._thread is not None:
                self._thread.join()
            self._closed = True
            if self.failure is not None:
                self._hang_up()
        err = None if error is None else json.dumps(
            {"type": error.type, "message": error.message, "line": error.line, "file": error.file})
        try:
            with self._sending:
                self._send(("finish", status, exit_code, err, self._new_sources()))
        except OSError as exc:
            self._fail(StoreError(f"{self.path}: cannot finish the recording ({exc})"))
        with self._lock:
            deadline = time.monotonic() + FINISH_SECONDS
            while not self._finished and self.failure is None and self._answers.is_alive():
                if time.monotonic() > deadline:
                    self._fail(StoreError(f"{self.path}: the recording's writer did not finish in time"))
                    break
                self._lock.wait(0.05)
        self._hang_up()
        if self.failure is not None:
            raise self.failure

    def _alive(self) -> bool:
        """Whether the writer's thread goes on (a writer that died has set ``failure``)."""
        return self._thread is not None and self._thread.is_alive()

    def _forked(self) -> None:
        """In a forked child: this process must never write to the parent's file (nor keep its pipes)."""
        self._disabled = True
        fd, self._to_writer = self._to_writer, -1
        try:
            if fd >= 0:
                os.close(fd)
            self._from_writer.close()
        except OSError:
            pass

    def _hang_up(self) -> None:
        """Close the pipe to the writer's process and reap it."""
        fd, self._to_writer = self._to_writer, -1
        if fd >= 0:
            os.close(fd)
        if self._proc is not None:
            try:
                self._proc.wait(FINISH_SECONDS)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _fail(self, failure: StoreError) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = failure
            self._lock.notify_all()

    # ------------------------------------------------------------------ the writer's thread

    def _loop(self) -> None:
        while True:
            with self._lock:
                # The writer's answers wake this thread too: it sends when the time is up, not
                # at each answer (that made batches a quarter of the size, each with its own
                # statistics call and pickling set-up). The time is counted from the last
                # batch sent by any thread: while the script's thread sends full batches
                # itself, this one has nothing to do (sending a part of one every quarter
                # of a second, it took the GIL from the script for its statistics and
                # pickling, a fifth of all batches on the small MLP).
                while not (self._flush_wanted or self._closing or len(self._queue) >= self._max_queued):
                    left = self._last_send + self._commit_seconds - time.monotonic()
                    if left <= 0:
                        break
                    self._lock.wait(left)
                self._flush_wanted = False
                closing = self._closing
            if not self._send_queued():
                return
            with self._lock:
                if closing and not self._queue:
                    return

    def _send_queued(self, inline: bool = False) -> bool:
        """Send what is queued as one batch (in order with any other thread's); False once failed.

        ``inline``: called from inside the script's own work, which may be at its recursion
        limit; a batch that cannot be made there goes back to the queue, for the writer's
        thread to send (its stack is its own), rather than failing the recording.
        """
        with self._sending:
            with self._lock:
                if self.failure is not None:
                    return False
                items, self._queue = self._queue, []
                target = self._queued
                self._last_send = time.monotonic()
                self._lock.notify_all()  # an ``add`` waiting for room
            if not items:
                return True
            sources: dict[str, str] = {}
            try:
                if self._prepare is not None:
                    self._prepare()
                sources = self._new_sources()
                data = transport.dumps(("batch", items, sources, target))
            except RecursionError:
                if inline:
                    self._sources_sent.difference_update(sources)
                    with self._lock:
                        self._queue[:0] = items
                    return True
                self._fail(StoreError(f"{self.path}: cannot write the recording (RecursionError)"))
                return False
            except Exception as exc:  # an event that cannot be pickled: a bug of ours, said once
                self._fail(StoreError(f"{self.path}: cannot write the recording "
                                      f"({type(exc).__name__}: {exc})"))
                return False
            try:
                self._write(data)
            except OSError as exc:
                self._fail(StoreError(f"{self.path}: cannot write the recording ({exc})"))
                return False
        return True

    def _send(self, message: tuple[Any, ...]) -> None:
        self._write(transport.dumps(message))

    def _write(self, data: bytes) -> None:
        """One frame to the writer's process (waiting first, once, for it to say it is ready)."""
        if not self._ready:
            self._await_ready()
        view = memoryview(data)
        fd = self._to_writer
        if fd < 0:
            raise BrokenPipeError("the recording's writer is gone")
        while view:
            view = view[os.write(fd, view):]

    def _new_sources(self) -> dict[str, str]:
        if self._sources is None:
            return {}
        new = {f: t for f, t in list(self._sources().items()) if f not in self._sources_sent}
        self._sources_sent.update(new)
        return new

    # ------------------------------------------------------------------ answers from the writer

    def _read_answers(self, stream: BinaryIO) -> None:
        while True:
            try:
                what, value = transport.read_frame(stream)
            except (EOFError, OSError, ValueError):
                with self._lock:
                    if stream is self._from_writer and not self._ready:
                        self._never_ready = True
                    elif not self._finished and self.failure is None and not self._disabled:
                        self.failure = StoreError(f"{self.path}: the recording's writer stopped unexpectedly")
                    self._lock.notify_all()
                return
            with self._lock:
                if what == "written":
                    self._written = max(self._written, value)
                elif what == "ready":
                    self._ready = True
                elif what == "finished":
                    self._finished = True
                else:
                    self.failure = self.failure or StoreError(value)
                self._lock.notify_all()
            if what not in ("written", "ready"):
                return
