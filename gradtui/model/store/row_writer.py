"""Events into rows: the SQLite side of a recording, run by the writer's own process.

``StoreWriter`` (the script's side) creates the file and hands every batch of events over
a pipe; the process in ``writer_process`` unpickles them and gives them to a ``RowWriter``,
which turns each into its rows (the tensors' raw bytes, the step summaries, the pruning of
old detail) and commits the batch in one transaction. Nothing here may touch torch: the
writer's process never imports it, so that its work (building the payloads, encoding JSON,
SQLite) runs beside the script on another core instead of taking turns with it on one GIL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from gradtui.model.event_json import event_to_json
from gradtui.model.events import Event
from gradtui.model.graph import GraphNode
from gradtui.model.store.payload import TensorId, compact_payload
from gradtui.model.store.pruning import StepPruner
from gradtui.model.store.rows import StepBook, StepSummary, indexed_fields
from gradtui.model.store.schema import configure_writer
from gradtui.model.store.tensor_rows import Layout, to_row
from gradtui.model.tensors import TensorSummary

#: One encoder for every payload: ``json.dumps`` with options builds a new one per call.
_PAYLOAD_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
#: Tensor summaries remembered so that an unchanged tensor is stored once and referenced.
_REMEMBERED_TENSORS = 20_000

#: One item of a batch: ``("e", Event)``, ``("n", GraphNode)`` or ``("h", None)`` (a pause).
Item = tuple[str, Any]


class RowWriter:
    """Writes batches of events into the recording at ``path`` (created, with its ``run`` row, by ``StoreWriter``)."""

    def __init__(self, path: str | os.PathLike[str], keep_steps: int | None = None) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        configure_writer(self._db)
        self._pruner = StepPruner(keep_steps) if keep_steps is not None else None
        self._step = 0  # the step of the event being written
        self._book = StepBook()
        #: Stored once, referenced after: the same summary object (a tensor whose ``_version``
        #: has not moved; within one batch, which arrives as one pickle), or the same bytes (a
        #: parameter ``zero_grad`` left as it was, or the same summary in a later batch).
        self._tensor_ids: OrderedDict[int, tuple[TensorSummary, int]] = OrderedDict()
        self._tensor_rows: OrderedDict[tuple[int, str | None, bytes | None, bytes | None], int] = OrderedDict()
        self._layouts: dict[Layout, int] = {}
        self._param_sets: dict[tuple[str, ...], int] = {}
        self._names: dict[str, int] = {}

    def write(self, items: list[Item], sources: Mapping[str, str]) -> None:
        """Write ``items`` and the ``sources`` not written before, in one transaction."""
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
            self._write_sources(sources)
            db.execute("UPDATE run SET updated = ? WHERE id = 1", (time.time(),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            # The batch's summaries are the only ones these ids can name: the next batch
            # arrives as new objects. Kept, they were the writer's largest memory (20,000
            # summaries with their values).
            self._tensor_ids.clear()

    def finish(self, status: str, exit_code: int | None, error: str | None, sources: Mapping[str, str]) -> None:
        """Write how the run ended and leave one self-contained file."""
        try:
            self._write_sources(sources)
            self._db.execute("UPDATE run SET status = ?, exit_code = ?, error = ?, ended = ?, updated = ? WHERE id = 1",
                             (status, exit_code, error, time.time(), time.time()))
            try:
                # One self-contained file again, unless a reader still has it open (the app
                # that quits, a second replay): then it stays a valid WAL database.
                self._db.execute("PRAGMA busy_timeout = 100")
                self._db.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.OperationalError:
                pass
        finally:
            self._db.close()

    def abandon(self) -> None:
        """Close the file without a word more (the script's side is gone)."""
        self._db.close()

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

    def _write_sources(self, sources: Mapping[str, str]) -> None:
        for file, text in sources.items():
            self._db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?)", (file, text))


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
