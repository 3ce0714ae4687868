"""Opening a recording and asking it questions, whatever its size: nothing is loaded up front.

``open_recording`` checks the file in constant time (SQLite's header, the ``meta`` table,
the ``run`` row) and refuses, with one sentence, a file that is not a recording, is cut
short, or is damaged. The events are a ``Sequence`` that decodes a row when it is asked
for and keeps the latest few thousand decoded (``StoredEvents``); the questions the app
asks (the latest backward, the next breakpoint, the loss curve) are indexed queries, so
a key costs the same on a run of a million events as on a tutorial. A recording that is
still being written can be read: each reader sees what the writer last committed, and
``refresh`` looks again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import sqlite3
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from gradtui.model.event_json import event_from_json
from gradtui.model.events import DetailDropped, Event
from gradtui.model.graph import GraphNode
from gradtui.model.index import EventIndex
from gradtui.model.json_values import TimelineFormatError, number_from_json
from gradtui.model.store.payload import expand_payload
from gradtui.model.store.schema import FORMAT_NAME, SCHEMA_VERSION, SQLITE_MAGIC
from gradtui.model.store.tensor_rows import from_row
from gradtui.model.tensors import TensorSummary
from gradtui.model.thinning import SeriesSummary, ThinnedPoints
from gradtui.model.timeline import STATUSES, ErrorInfo, Timeline

#: Decoded events and tensors kept in memory, at most: the window the screen moves in.
EVENT_CACHE = 4096
TENSOR_CACHE = 8192
#: A run whose writer has not committed for this long, and whose process is gone, was killed.
_STALE_SECONDS = 5.0


def is_recording_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts as an SQLite database does (a recording, or not one at all)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _damaged(p: Path, exc: BaseException) -> TimelineFormatError:
    return TimelineFormatError(f"{p}: the recording is damaged and cannot be read ({exc})")


class Recording:
    """An open recording file (read-only): the run row, the events, the graph, the sources."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = self.path = Path(path)
        if not p.exists():
            raise TimelineFormatError(f"{p}: no such file")
        if p.is_dir():
            raise TimelineFormatError(f"{p}: is a directory, not a recording")
        try:
            with p.open("rb") as fh:
                header = fh.read(100)
        except OSError as exc:
            raise TimelineFormatError(f"{p}: cannot be read ({exc.strerror})") from None
        if not header.startswith(SQLITE_MAGIC):
            raise TimelineFormatError(f"{p}: not a gradtui recording (not an SQLite database)")
        if len(header) < 100:
            raise TimelineFormatError(f"{p}: the recording is truncated (the file ends before the database does)")
        if not _sound_header(header):
            raise TimelineFormatError(f"{p}: the recording is damaged and cannot be read (its header is garbled)")
        if _truncated(p, header):
            raise TimelineFormatError(f"{p}: the recording is truncated (the file ends before the database does)")
        self._lock = threading.RLock()
        try:
            self._db = _connect(p)
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            if "no such table" in str(exc):
                raise TimelineFormatError(f"{p}: an SQLite database, but not a gradtui recording") from None
            raise _damaged(p, exc) from None
        if meta.get("format") != FORMAT_NAME:
            raise TimelineFormatError(f"{p}: an SQLite database, but not a gradtui recording")
        if meta.get("version") != str(SCHEMA_VERSION):
            raise TimelineFormatError(f"{p}: recording format version {meta.get('version')} is not supported "
                                      f"(this gradtui reads version {SCHEMA_VERSION})")
        self.refresh()

    def refresh(self) -> None:
        """Read the run row and the number of events again (the writer may have gone on)."""
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT script, argv, status, exit_code, error, max_values, torch_version, pid, host, updated, "
                    "options FROM run WHERE id = 1").fetchone()
                last = self._db.execute("SELECT max(seq) FROM events").fetchone()[0]
        except sqlite3.Error as exc:
            raise _damaged(self.path, exc) from None
        if row is None:
            raise TimelineFormatError(f"{self.path}: the recording has no run row")
        script, argv, status, exit_code, error, max_values, torch_version, pid, host, updated, options = row
        if status not in STATUSES:
            raise TimelineFormatError(f"{self.path}: unknown status '{status}'")
        try:
            self.script: str = script
            self.argv: list[str] = [str(a) for a in json.loads(argv)]
            self.writing = status == "running" and _writer_alive(pid, host, updated)
            self.status: str = "killed" if status == "running" and not self.writing else status
            self.exit_code: int | None = exit_code
            self.error: ErrorInfo | None = None
            if error:
                e = json.loads(error)
                self.error = ErrorInfo(e["type"], e["message"], e.get("line"), e.get("file"))
            self.max_values: int = max_values
            self.torch_version: str | None = torch_version
            self.options: dict[str, Any] = json.loads(options or "{}")
        except (ValueError, TypeError, KeyError) as exc:  # the run row's JSON columns
            raise _damaged(self.path, exc) from None
        self.count: int = 0 if last is None else int(last) + 1

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one query; a damaged file becomes one ``TimelineFormatError`` sentence."""
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _damaged(self.path, exc) from None

    def sources(self) -> dict[str, str]:
        return {file: text for file, text in self.execute("SELECT file, text FROM sources")}

    def timeline(self) -> Timeline:
        """The run as a ``Timeline`` whose events and graph are read from the file as they are asked for."""
        return Timeline(script=self.script, argv=self.argv, events=StoredEvents(self), status=self.status,
                        exit_code=self.exit_code, error=self.error, max_values=self.max_values,
                        torch_version=self.torch_version, graph=StoredGraph(self), sources=self.sources())

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _connect(p: Path) -> sqlite3.Connection:
    """Read-only. A finished recording is one file; one still written has its ``-wal`` beside it."""
    db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    db.execute("PRAGMA query_only = 1")
    return db


def _sound_header(header: bytes) -> bool:
    """The fields of SQLite's 100-byte header that have few valid values hold one of them.

    The schema format and text encoding are 0 in a file whose content is all in its ``-wal``
    still (a live run that has not been checkpointed yet).
    """
    page_size = int.from_bytes(header[16:18], "big")
    return ((page_size == 1 or (512 <= page_size <= 32768 and page_size & (page_size - 1) == 0))
            and header[18] in (1, 2) and header[19] in (1, 2) and header[21:24] == b"\x40\x20\x20"
            and int.from_bytes(header[44:48], "big") <= 4 and int.from_bytes(header[56:60], "big") <= 3)


def _truncated(p: Path, header: bytes) -> bool:
    """SQLite's header says how many pages the database has; a shorter file was cut short.

    Only a file without a ``-wal`` beside it is judged: while a run is written, committed
    pages may still be in the log rather than in the file.
    """
    if Path(f"{p}-wal").exists():
        return False
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    return pages > 0 and page_size > 0 and p.stat().st_size < pages * page_size


def _writer_alive(pid: int | None, host: str | None, updated: float | None) -> bool:
    """Whether the process that writes the run is still there (on this machine), or wrote lately."""
    if pid is not None and host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return updated is not None and time.time() - updated < _STALE_SECONDS


class StoredEvents(EventIndex):
    """The events of a recording, decoded on demand; ``known`` bounds what may be read of a live one."""

    def __init__(self, recording: Recording, known: int | None = None) -> None:
        self._rec = recording
        self._known = recording.count if known is None else known
        self._cache: OrderedDict[int, Event] = OrderedDict()
        self._tensors: OrderedDict[int, TensorSummary] = OrderedDict()
        #: The plot's series, summed up as far as they were read (``gradtui.model.thinning``).
        self._loss: SeriesSummary | None = None
        self._watched: dict[str, SeriesSummary] = {}

    # ---------------------------------------------------------------- the sequence

    def know(self, count: int) -> None:
        if count > self._rec.count:
            self._rec.refresh()
        if not 0 <= count <= self._rec.count:
            raise ValueError(f"{count} events reported, {self._rec.count} recorded")
        self._known = max(self._known, count)

    def __len__(self) -> int:
        return self._known

    @overload
    def __getitem__(self, i: int) -> Event: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Event]: ...
    def __getitem__(self, i: int | slice) -> Event | Sequence[Event]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._known))]
        if i < 0:
            i += self._known
        if not 0 <= i < self._known:
            raise IndexError("event index out of range")
        found = self._cache.get(i)
        if found is not None:
            self._cache.move_to_end(i)
            return found
        rows = self._rec.execute("SELECT seq, kind, file, line, payload FROM events WHERE seq = ?", (i,))
        if rows:
            event = self._decode(rows[0])
        else:
            event = self._in_dropped(i)
        self._cache[i] = event
        if len(self._cache) > EVENT_CACHE:
            self._cache.popitem(last=False)
        return event

    def __iter__(self) -> Iterator[Event]:
        """Every event in order, a batch of rows at a time (an export walks a long run so)."""
        start = 0
        while start < self._known:
            rows = self._rec.execute("SELECT seq, kind, file, line, payload FROM events WHERE seq >= ? AND seq < ? "
                                     "ORDER BY seq LIMIT 1000", (start, self._known))
            if not rows:
                return
            for row in rows:
                yield self._cached(row)
            start = rows[-1][0] + 1

    def _in_dropped(self, i: int) -> Event:
        """Position ``i`` inside a stretch ``--keep-steps`` dropped: that stretch, as seen from ``i``."""
        rows = self._rec.execute("SELECT seq, kind, file, line, payload FROM events WHERE seq < ? ORDER BY seq DESC "
                                 "LIMIT 1", (i,))
        if rows and rows[0][1] == "dropped":
            held = self._decode(rows[0])
            if isinstance(held, DetailDropped) and held.last >= i:
                return dataclasses.replace(held, seq=i)
        raise IndexError(f"event {i} is not in the recording")

    def _cached(self, row: tuple[Any, ...]) -> Event:
        found = self._cache.get(row[0])
        if found is None:
            found = self._cache[row[0]] = self._decode(row)
            if len(self._cache) > EVENT_CACHE:
                self._cache.popitem(last=False)
        return found

    def _decode(self, row: tuple[Any, ...]) -> Event:
        seq, kind, file, line, payload = row
        try:
            d = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise TimelineFormatError(f"{self._rec.path}: event {seq} is damaged ({exc})") from None
        if not isinstance(d, dict):
            raise TimelineFormatError(f"{self._rec.path}: event {seq} is damaged (its payload is not an object)")
        try:
            d = expand_payload(d, seq, kind, file, line)
            if kind == "op" and "grad_fn" not in d:
                output = self._tensor(d.get("output"), f"events[{seq}].output")
                d["grad_fn"] = None if output is None else output.grad_fn
            return event_from_json(d, seq, self._tensor)
        except TimelineFormatError:
            raise
        except (AttributeError, TypeError, KeyError, ValueError) as exc:  # as codec.load: a field of the wrong shape
            raise TimelineFormatError(f"{self._rec.path}: event {seq} is damaged ({type(exc).__name__}: {exc})") \
                from None

    def _tensor(self, ref: Any, where: str) -> TensorSummary | None:
        if ref is None:
            return None
        if not isinstance(ref, dict) or not isinstance(ref.get("t"), int):
            raise TimelineFormatError(f"{self._rec.path}: {where}: a tensor must be a reference to the tensor table")
        tid: int = ref["t"]
        found = self._tensors.get(tid)
        if found is not None:
            self._tensors.move_to_end(tid)
            return found
        rows = self._rec.execute("SELECT dtype, shape, requires_grad, grad_fn, encoding, data, stats FROM tensors "
                                 "JOIN layouts ON layouts.id = tensors.layout WHERE tensors.id = ?", (tid,))
        if not rows:
            raise TimelineFormatError(f"{self._rec.path}: {where}: tensor {tid} is missing")
        try:
            summary = from_row(*rows[0])
        except (ValueError, TypeError, KeyError, IndexError, struct.error) as exc:
            raise TimelineFormatError(f"{self._rec.path}: {where}: tensor {tid} is damaged ({exc})") from None
        self._tensors[tid] = summary
        if len(self._tensors) > TENSOR_CACHE:
            self._tensors.popitem(last=False)
        return summary

    # ---------------------------------------------------------------- indexed questions

    def _upto(self, upto: int | None) -> int:
        last = self._known - 1
        return last if upto is None else min(upto, last)

    @staticmethod
    def _kinds(kinds: Collection[str]) -> tuple[str, str]:
        listed = tuple(kinds)
        return ",".join("?" * len(listed)), listed  # type: ignore[return-value]

    def positions(self, kinds: Collection[str], upto: int | None = None) -> list[int]:
        marks, listed = self._kinds(kinds)
        rows = self._rec.execute(f"SELECT seq FROM events WHERE kind IN ({marks}) AND seq <= ? ORDER BY seq",
                                 (*listed, self._upto(upto)))
        return [r[0] for r in rows]

    def last_positions(self, kinds: Collection[str], upto: int, limit: int) -> list[int]:
        # One query per kind: over ``kind IN (…)`` SQLite sorts every match before the LIMIT.
        found: list[int] = []
        for kind in kinds:
            rows = self._rec.execute("SELECT seq FROM events WHERE kind = ? AND seq <= ? ORDER BY seq DESC LIMIT ?",
                                     (kind, self._upto(upto), limit))
            found.extend(r[0] for r in rows)
        return sorted(found)[-limit:] if limit > 0 else []

    def latest(self, kinds: Collection[str], upto: int) -> int | None:
        best = None
        for kind in kinds:
            found = self._rec.execute("SELECT max(seq) FROM events WHERE kind = ? AND seq <= ?",
                                      (kind, self._upto(upto)))[0][0]
            if found is not None and (best is None or found > best):
                best = found
        return best

    def following(self, kinds: Collection[str], start: int) -> int | None:
        best = None
        for kind in kinds:
            found = self._rec.execute("SELECT min(seq) FROM events WHERE kind = ? AND seq > ? AND seq < ?",
                                      (kind, start, self._known))[0][0]
            if found is not None and (best is None or found < best):
                best = found
        return best

    def count_of(self, kind: str, upto: int) -> int:
        rows = self._rec.execute("SELECT nth FROM events WHERE kind = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                                 (kind, self._upto(upto)))
        return int(rows[0][0]) if rows else 0

    def line_following(self, spots: Collection[tuple[str, int]], start: int) -> int | None:
        best = None
        for file, line in spots:
            found = self._rec.execute("SELECT min(seq) FROM events WHERE kind = 'line' AND file = ? AND line = ? "
                                      "AND seq > ? AND seq < ?", (file, line, start, self._known))[0][0]
            if found is not None and (best is None or found < best):
                best = found
        return best

    def line_latest(self, spots: Collection[tuple[str, int]], upto: int) -> int | None:
        best = None
        for file, line in spots:
            found = self._rec.execute("SELECT max(seq) FROM events WHERE kind = 'line' AND file = ? AND line = ? "
                                      "AND seq <= ?", (file, line, self._upto(upto)))[0][0]
            if found is not None and (best is None or found > best):
                best = found
        return best

    def noted_following(self, start: int) -> int | None:
        found = self._rec.execute("SELECT min(seq) FROM events WHERE noted = 1 AND seq > ? AND seq < ?",
                                  (start, self._known))[0][0]
        return None if found is None else int(found)

    def noted_latest(self, upto: int) -> int | None:
        found = self._rec.execute("SELECT max(seq) FROM events WHERE noted = 1 AND seq <= ?", (self._upto(upto),))[0][0]
        return None if found is None else int(found)

    def loss_points(self, upto: int) -> list[tuple[int, float]]:
        return [(int(n), y) for _, n, y in self._loss_rows(-1, upto, -1)]

    def watch_points(self, name: str, upto: int) -> list[tuple[int, float]]:
        return [(seq, y) for seq, _, y in self._watch_rows(name, -1, upto, -1)]

    def loss_series(self, upto: int, most: int) -> ThinnedPoints:
        if self._loss is None:
            self._loss = SeriesSummary(self._loss_rows)
        return self._loss.thinned(self._upto(upto), most)

    def watch_series(self, name: str, upto: int, most: int) -> ThinnedPoints:
        summary = self._watched.get(name)
        if summary is None:
            summary = self._watched[name] = SeriesSummary(lambda a, u, n: self._watch_rows(name, a, u, n), ordinal=True)
        return summary.thinned(self._upto(upto), most)

    # SQLite keeps no NaN (the writer files it as NULL): the payload still says "nan".
    def _loss_rows(self, after: int, upto: int, limit: int) -> list[tuple[int, float, float]]:
        # Steps whose detail --keep-steps dropped still have their loss in the steps table.
        # Each branch but the NaNs' reads its index alone (``schema``); those read the payload.
        upto = self._upto(upto)
        rows = self._rec.execute("SELECT seq, nth, value FROM events WHERE kind = 'backward' AND seq > ? AND seq <= ? "
                                 "AND value IS NOT NULL "
                                 "UNION ALL SELECT seq, nth, value FROM events WHERE kind = 'backward' AND seq > ? "
                                 "AND seq <= ? AND value IS NULL AND json_extract(payload, '$.loss') = 'nan' "
                                 "UNION ALL SELECT seq, backward, loss FROM steps WHERE kept = 0 AND seq > ? "
                                 "AND seq <= ? AND loss IS NOT NULL ORDER BY seq LIMIT ?",
                                 (after, upto, after, upto, after, upto, limit))
        return [(int(s), float(n), math.nan if v is None else float(v)) for s, n, v in rows]

    def _watch_rows(self, name: str, after: int, upto: int, limit: int) -> list[tuple[int, float, float]]:
        upto = self._upto(upto)
        rows = self._rec.execute("SELECT seq, value FROM events WHERE kind = 'watch' AND name = ? AND seq > ? "
                                 "AND seq <= ? AND value IS NOT NULL UNION ALL "
                                 "SELECT seq, value FROM events WHERE kind = 'watch' AND name = ? AND seq > ? "
                                 "AND seq <= ? AND value IS NULL AND json_extract(payload, '$.value') = 'nan' "
                                 "ORDER BY seq LIMIT ?", (name, after, upto, name, after, upto, limit))
        return [(int(s), 0.0, math.nan if v is None else float(v)) for s, v in rows]


class StoredGraph(Mapping[int, GraphNode]):
    """The node table of a recording, read by id as the graph panel asks."""

    def __init__(self, recording: Recording) -> None:
        self._rec = recording
        self._cache: OrderedDict[int, GraphNode | None] = OrderedDict()

    def _get(self, node_id: int) -> GraphNode | None:
        if node_id in self._cache:
            self._cache.move_to_end(node_id)
            return self._cache[node_id]
        rows = self._rec.execute("SELECT id, name, children, variable, module, module_class FROM graph WHERE id = ?",
                                 (node_id,))
        node = None if not rows else _node(rows[0])
        if node is not None:  # a missing id may be committed later by a live run
            self._cache[node_id] = node
            if len(self._cache) > TENSOR_CACHE:
                self._cache.popitem(last=False)
        return node

    def __getitem__(self, node_id: int) -> GraphNode:
        node = self._get(node_id) if isinstance(node_id, int) else None
        if node is None:
            raise KeyError(node_id)
        return node

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, int) and self._get(node_id) is not None

    def __len__(self) -> int:
        return int(self._rec.execute("SELECT count(*) FROM graph")[0][0])

    def __iter__(self) -> Iterator[int]:
        start = -1
        while True:
            rows = self._rec.execute("SELECT id FROM graph WHERE id > ? ORDER BY id LIMIT 5000", (start,))
            if not rows:
                return
            for (node_id,) in rows:
                yield node_id
            start = rows[-1][0]

    def rows(self) -> Iterator[GraphNode]:
        """Every node in id order, a batch at a time."""
        start = -1
        while True:
            rows = self._rec.execute("SELECT id, name, children, variable, module, module_class FROM graph "
                                     "WHERE id > ? ORDER BY id LIMIT 5000", (start,))
            if not rows:
                return
            for row in rows:
                yield _node(row)
            start = rows[-1][0]


def _node(row: tuple[Any, ...]) -> GraphNode:
    node_id, name, children, variable, module, module_class = row
    try:
        return GraphNode(node_id, name, tuple(json.loads(children)), variable, module, module_class)
    except (ValueError, TypeError) as exc:
        raise TimelineFormatError(f"graph node {node_id} is damaged ({exc})") from None


def step_rows(recording: Recording, upto_seq: int | None = None) -> list[dict[str, Any]]:
    """The ``steps`` table (up to the step at ``upto_seq``), each row as a dict of plain values."""
    sql = ("SELECT step, seq, optimizer, backward, loss, lrs, param_sets.names, grad_norms, param_norms, "
           "update_norms, non_finite, kept FROM steps JOIN param_sets ON param_sets.id = steps.params")
    params: tuple[Any, ...] = ()
    if upto_seq is not None:
        sql += " WHERE seq <= ?"
        params = (upto_seq,)
    out = []
    rows = recording.execute(sql + " ORDER BY step", params)
    for step, seq, optimizer, backward, loss, lrs, names_text, grads, params_, updates, bad, kept in rows:
        names = json.loads(names_text)
        out.append({"step": step, "seq": seq, "optimizer": optimizer, "backward": backward, "loss": loss,
                    "kept": bool(kept),
                    "lrs": [number_from_json(x) for x in json.loads(lrs)], "grad_norms": _by_name(names, grads),
                    "param_norms": _by_name(names, params_), "update_norms": _by_name(names, updates),
                    "non_finite": json.loads(bad)})
    return out


def _by_name(names: list[str], text: str) -> dict[str, Any]:
    return {k: number_from_json(v) for k, v in zip(names, json.loads(text), strict=True)}
