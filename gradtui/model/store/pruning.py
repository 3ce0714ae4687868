"""``--keep-steps N``: the detail of old optimizer steps goes, their summaries stay.

A training loop of a million steps recorded in full takes gigabytes; what is worth
stepping through is the end of it and the places where something happened. With a
limit, the writer keeps every event, tensor and graph node of the last ``N`` optimizer
steps and of each step around a stop (a step with a note or an error in it, a pause of
the debugger, and the steps either side), and deletes the rest once a step falls ``N``
behind. Each run of deleted steps is replaced by one ``dropped`` event
(``gradtui.model.events.DetailDropped``) at its first position, which a reader returns
for every position in the run; the ``steps`` table keeps every step's summary row (with
``kept = 0`` for those whose detail went), so the loss curve stays whole.

A tensor row may be shared by several steps (stored once, referenced after): it is
deleted with the last step that refers to it, and never while a kept step refers to it.
This module decides; ``writer`` runs the statements in its own transaction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Hole:
    """The run of deleted steps the next deleted step may extend."""

    first: int
    last: int
    first_step: int
    last_step: int
    file: str
    line: int
    nth: int


@dataclass(slots=True)
class StepPruner:
    """Follows which step refers to what, and deletes a step's detail when it falls behind."""

    keep: int
    #: Steps that keep their detail whatever their age (a stop, and the steps either side).
    kept_steps: set[int] = field(default_factory=set)
    kept_rows: set[int] = field(default_factory=set)
    #: Per step still in the window: its first event, the tensor rows and node ids it made or used.
    first_seq: dict[int, int] = field(default_factory=dict)
    refs: dict[int, set[int]] = field(default_factory=dict)
    nodes: dict[int, list[int]] = field(default_factory=dict)
    #: The latest step that referred to each tensor row still alive.
    last_step: dict[int, int] = field(default_factory=dict)
    hole: _Hole | None = None
    #: Rows deleted since the writer last asked: it forgets them, so nothing refers to them again.
    deleted: list[int] = field(default_factory=list)

    def event(self, step: int, seq: int) -> None:
        self.first_seq.setdefault(step, seq)

    def node(self, step: int, node_id: int) -> None:
        span = self.nodes.setdefault(step, [node_id, node_id])
        span[0], span[1] = min(span[0], node_id), max(span[1], node_id)

    def referenced(self, step: int, row: int) -> None:
        self.refs.setdefault(step, set()).add(row)
        self.last_step[row] = max(step, self.last_step.get(row, step))
        if step in self.kept_steps:
            self.kept_rows.add(row)

    def alive(self, row: int) -> bool:
        """Whether the writer may refer to ``row`` again (not deleted, nor about to be)."""
        return row in self.last_step

    def hold(self, step: int) -> None:
        """Keep the detail of ``step`` and the steps either side (a stop happened in it)."""
        for s in (step - 1, step, step + 1):
            if s >= 0 and s not in self.kept_steps:
                self.kept_steps.add(s)
                self.kept_rows.update(self.refs.get(s, ()))

    def step_done(self, db: sqlite3.Connection, step: int) -> None:
        """Step ``step`` has been written whole: the step ``keep`` behind it may go."""
        old = step - self.keep
        if old < 0 or old not in self.first_seq:
            return
        end = self.first_seq.get(old + 1)
        if end is None:
            return
        if old in self.kept_steps:
            self.hole = None
        else:
            self._drop(db, old, self.first_seq[old], end - 1)
        self._forget(old)

    def _forget(self, step: int) -> None:
        self.first_seq.pop(step, None)
        self.nodes.pop(step, None)
        for row in self.refs.pop(step, ()):
            if self.last_step.get(row) == step:
                del self.last_step[row]

    def _drop(self, db: sqlite3.Connection, step: int, first: int, last: int) -> None:
        head = db.execute("SELECT file, line, nth FROM events WHERE seq = ?", (first,)).fetchone()
        db.execute("DELETE FROM event_params WHERE param IN (SELECT id FROM names) AND seq BETWEEN ? AND ?",
                   (first, last))
        db.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (first, last))
        dead = [row for row in self.refs.get(step, ())
                if self.last_step.get(row) == step and row not in self.kept_rows]
        db.executemany("DELETE FROM tensors WHERE id = ?", [(row,) for row in dead])
        self.deleted.extend(dead)
        span = self.nodes.get(step)
        if span is not None:
            db.execute("DELETE FROM graph WHERE id BETWEEN ? AND ?", (span[0], span[1]))
        db.execute("UPDATE steps SET kept = 0 WHERE step = ?", (step,))
        hole = self.hole
        if hole is not None and hole.last == first - 1:
            hole.last, hole.last_step = last, step
            db.execute("UPDATE events SET payload = ? WHERE seq = ?", (_payload(hole), hole.first))
            return
        file, line, nth = head if head is not None else ("", 0, 0)
        hole = self.hole = _Hole(first, last, step, step, file, line, nth)
        count = db.execute("SELECT count(*) FROM events WHERE kind = 'dropped'").fetchone()[0]
        db.execute("INSERT INTO events VALUES (?, 'dropped', ?, ?, ?, ?, NULL, NULL, 0, ?)",
                   (first, file, line, step, count + 1, _payload(hole)))


def _payload(hole: _Hole) -> str:
    return json.dumps({"first": hole.first, "last": hole.last, "first_step": hole.first_step,
                       "last_step": hole.last_step}, separators=(",", ":"))
