"""The one writer of a recording: events go in from the script's thread, rows out on its own.

``add`` only queues the event; a thread of the writer's own turns queued events into rows
(the tensors' raw bytes, deferred statistics computed there, off the script's thread) and
commits them in one transaction at least every ``commit_seconds``, so a run killed by
SIGKILL keeps everything but the last moments. The queue is bounded: a script that makes
events faster than they can be written waits in ``add``, so memory stays flat however
long the run. ``flush`` returns once everything queued is committed (before a pause is
reported, a reader sees every reported event); ``close`` writes how the run ended and
turns the file back into one self-contained database (no ``-wal`` beside it).

A forked child (a DataLoader worker) inherits the writer but must never touch the file:
after a fork the writer drops whatever the child adds.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradtui.model.event_json import event_to_json
from gradtui.model.events import Event
from gradtui.model.graph import GraphNode
from gradtui.model.store.payload import TensorId, compact_payload
from gradtui.model.store.pruning import StepPruner
from gradtui.model.store.rows import StepBook, StepSummary, indexed_fields
from gradtui.model.store.schema import FORMAT_NAME, SCHEMA_VERSION, TABLES, configure_writer
from gradtui.model.store.tensor_rows import Layout, to_row
from gradtui.model.tensors import TensorSummary
from gradtui.model.timeline import ErrorInfo

#: Commits come at least this often while events arrive (the issue's bound is half a second).
COMMIT_SECONDS = 0.25
#: Events queued and not yet written, at most: past it the script's thread waits.
MAX_QUEUED = 1024
#: One encoder for every payload: ``json.dumps`` with options builds a new one per call.
_PAYLOAD_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
#: Tensor summaries remembered so that an unchanged tensor is stored once and referenced.
_REMEMBERED_TENSORS = 20_000

_writers: weakref.WeakSet[StoreWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
                 keep_steps: int | None = None, prepare: Callable[[], object] | None = None) -> None:
        """``keep_steps``: keep the detail of only the last that many optimizer steps (``pruning``).
        ``prepare``: called on the writer's thread before each batch is written (the engine
        computes the batch's deferred statistics there, all together)."""
        self.path = Path(path)
        self._prepare = prepare
        self._pruner = StepPruner(keep_steps) if keep_steps is not None else None
        self._step = 0  # the step of the event being written
        self._sources = sources
        self._commit_seconds = commit_seconds
        self._max_queued = max_queued
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            configure_writer(self._db)
            self._db.executescript(TABLES)
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO meta VALUES (?, ?)",
                                 [("format", FORMAT_NAME), ("version", str(SCHEMA_VERSION))])
            now = time.time()
            self._db.execute(
                "INSERT INTO run (id, script, argv, status, max_values, torch_version, gradtui_version, "
                "python_version, options, pid, host, started, updated) "
                "VALUES (1, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (info.script, json.dumps(info.argv), info.max_values, info.torch_version, info.gradtui_version,
                 sys.version.split()[0], json.dumps(dict(info.options), default=str), os.getpid(),
                 socket.gethostname(), now, now))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot create the recording ({exc})") from None
        self._lock = threading.Condition()
        self._queue: list[tuple[str, Any]] = []
        self._queued = 0  # items ever queued
        self._written = 0  # items ever committed
        self._flush_wanted = False
        self._closing = False
        self._closed = False
        self._disabled = False
        self.failure: StoreError | None = None
        self._thread: threading.Thread | None = None
        self._book = StepBook()
        #: Stored once, referenced after: the same summary object (a tensor whose ``_version``
        #: has not moved), or the same bytes (a parameter ``zero_grad`` left as it was).
        self._tensor_ids: OrderedDict[int, tuple[TensorSummary, int]] = OrderedDict()
        self._tensor_rows: OrderedDict[tuple[int, str | None, bytes | None, bytes | None], int] = OrderedDict()
        self._layouts: dict[Layout, int] = {}
        self._param_sets: dict[tuple[str, ...], int] = {}
        self._names: dict[str, int] = {}
        self._sources_written: set[str] = set()
        _writers.add(self)

    # ------------------------------------------------------------------ script's side

    def add(self, event: Event) -> None:
        self._put("e", event)

    def add_node(self, node: GraphNode) -> None:
        self._put("n", node)

    def hold(self) -> None:
        """The run stopped here (a pause of the debugger): with ``keep_steps``, this step keeps its detail."""
        if self._pruner is not None:
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
            if len(self._queue) >= self._max_queued:
                self._lock.notify_all()
                while len(self._queue) >= self._max_queued // 2 and self.failure is None and self._alive():
                    self._lock.wait(0.05)

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
        err = None if error is None else json.dumps(
            {"type": error.type, "message": error.message, "line": error.line, "file": error.file})
        try:
            self._write_sources()
            self._db.execute("UPDATE run SET status = ?, exit_code = ?, error = ?, ended = ?, updated = ? WHERE id = 1",
                             (status, exit_code, err, time.time(), time.time()))
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot finish the recording ({exc})") from None
        try:
            # One self-contained file again, unless a reader still has it open (the app
            # that quits, a second replay): then it stays a valid WAL database.
            self._db.execute("PRAGMA busy_timeout = 100")
            self._db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:
            pass
        finally:
            self._db.close()

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _forked(self) -> None:
        """In a forked child: this process must never write to the parent's file."""
        self._disabled = True

    # ------------------------------------------------------------------ the writer's thread

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not (self._flush_wanted or self._closing or len(self._queue) >= self._max_queued):
                    self._lock.wait(self._commit_seconds)
                items, self._queue = self._queue, []
                target = self._queued
                self._flush_wanted = False
                closing = self._closing
                self._lock.notify_all()  # an ``add`` waiting for room
            if items or closing:
                try:
                    self._write(items)
                except (sqlite3.Error, OSError) as exc:
                    with self._lock:
                        self.failure = StoreError(f"{self.path}: cannot write the recording ({exc})")
                        self._lock.notify_all()
                    return
            with self._lock:
                self._written = target
                self._lock.notify_all()
                if closing and not self._queue:
                    return

    def _write(self, items: list[tuple[str, Any]]) -> None:
        if self._prepare is not None and items:
            self._prepare()
        db = self._db
        db.execute("BEGIN")
        try:
            for what, item in items:
                if what == "e":
                    self._write_event(item)
                elif what == "n":
                    n: GraphNode = item
                    db.execute("INSERT OR REPLACE INTO graph VALUES (?, ?, ?, ?, ?, ?)",
                               (n.id, n.name, json.dumps(list(n.children), separators=(",", ":")), n.variable,
                                n.module, n.module_class))
                    if self._pruner is not None:
                        self._pruner.node(self._book.steps, n.id)
                elif self._pruner is not None:  # "h": a pause
                    self._pruner.hold(self._book.steps)
            self._write_sources()
            db.execute("UPDATE run SET updated = ? WHERE id = 1", (time.time(),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _write_event(self, e: Event) -> None:
        db = self._db
        step, nth = self._book.place(e)
        self._step = step
        pruner = self._pruner
        if pruner is not None:
            pruner.event(step, e.seq)
            if e.notes or e.kind == "error":
                pruner.hold(step)
        name, value, params = indexed_fields(e)
        payload = compact_payload(event_to_json(e, spell=self._spell))
        text = _PAYLOAD_JSON.encode(payload)
        if value is not None and value != value:  # NaN is no number for SQLite
            value = None
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (e.seq, e.kind, e.file, e.line, step, nth, name, value,
                    int(bool(e.notes)), text))
        if params:
            db.executemany("INSERT OR IGNORE INTO event_params VALUES (?, ?)",
                           [(self._name_id(p), e.seq) for p in params])
        summary = self._book.after(e)
        if summary is not None:
            self._write_step(summary)
            if pruner is not None:
                pruner.step_done(db, summary.step)
                pruner.deleted.clear()

    def _write_step(self, s: StepSummary) -> None:
        def js(x: Any) -> str:
            return json.dumps(x, separators=(",", ":"), allow_nan=False)

        loss = s.loss if s.loss is not None and s.loss == s.loss and abs(s.loss) != float("inf") else None
        names = tuple(s.param_norms)
        found = self._param_sets.get(names)
        if found is None:
            cur = self._db.execute("INSERT INTO param_sets (names) VALUES (?)", (js(list(names)),))
            found = self._param_sets[names] = int(cur.lastrowid or 0)
        self._db.execute("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                         (s.step, s.seq, s.optimizer, s.backward, loss, js([_num(x) for x in s.lrs]), found,
                          js([_num(s.grad_norms.get(k)) for k in names]),
                          js([_num(s.param_norms.get(k)) for k in names]),
                          js([_num(s.update_norms.get(k)) for k in names]), js(list(s.non_finite))))

    def _name_id(self, name: str) -> int:
        found = self._names.get(name)
        if found is None:
            cur = self._db.execute("INSERT INTO names (name) VALUES (?)", (name,))
            found = self._names[name] = int(cur.lastrowid or 0)
        return found

    def _spell(self, t: TensorSummary | None) -> Any:
        if t is None:
            return None
        key = id(t)
        pruner = self._pruner
        hit = self._tensor_ids.get(key)
        if hit is not None and hit[0] is t and (pruner is None or pruner.alive(hit[1])):
            self._tensor_ids.move_to_end(key)
            if pruner is not None:
                pruner.referenced(self._step, hit[1])
            return _tensor_id(hit[1], t)
        layout, contents = to_row(t)
        values = (self._layout_id(layout), *contents)
        row = self._tensor_rows.get(values)
        if row is not None and pruner is not None and not pruner.alive(row):
            row = None  # its step's detail was deleted: store it anew
        if row is None:
            cur = self._db.execute("INSERT INTO tensors (layout, encoding, data, stats) VALUES (?, ?, ?, ?)", values)
            row = int(cur.lastrowid or 0)
            self._tensor_rows[values] = row
            if len(self._tensor_rows) > _REMEMBERED_TENSORS:
                self._tensor_rows.popitem(last=False)
        else:
            self._tensor_rows.move_to_end(values)
        self._tensor_ids[key] = (t, row)
        if len(self._tensor_ids) > _REMEMBERED_TENSORS:
            self._tensor_ids.popitem(last=False)
        if pruner is not None:
            pruner.referenced(self._step, row)
        return _tensor_id(row, t)

    def _layout_id(self, layout: Layout) -> int:
        found = self._layouts.get(layout)
        if found is None:
            cur = self._db.execute("INSERT INTO layouts (dtype, shape, requires_grad, grad_fn) VALUES (?, ?, ?, ?)",
                                   layout)
            found = self._layouts[layout] = int(cur.lastrowid or 0)
        return found

    def _write_sources(self) -> None:
        if self._sources is None:
            return
        for file, text in list(self._sources().items()):
            if file not in self._sources_written:
                self._db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?)", (file, text))
                self._sources_written.add(file)


def _tensor_id(row: int, t: TensorSummary) -> TensorId:
    found = TensorId(row)
    found.grad_fn = t.grad_fn
    return found


def _num(x: float | None) -> Any:
    """A number for a JSON column: non-finite values spelled as in the timeline format."""
    if x is None:
        return None
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return x
