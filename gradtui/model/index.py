"""A timeline's events with, per kind, the positions of that kind: questions in O(log n).

The app asks after every key "what is the latest backward up to here?", "how many steps so
far?", "where is the next line?". Scanning for the answer is instant on a tutorial and
takes a third of a second on a run that printed a hundred thousand lines. This wrapper
keeps, for each event kind, the sorted list of its positions (and of the lines at each
spot, and of the events with notes: where a breakpoint stops), grown as the timeline grows
(the engine only ever appends), and answers by bisection; the plot's series are summed up
once as they grow (``gradtui.model.thinning``). It is a ``Sequence`` of the same events,
so every question in ``history`` accepts it in place of a plain list.

For a live run it holds only the events the engine has *reported* (``known``): the app
reads the list the engine appends to, so it reads only the part the engine has finished
with (``gradtui.model.reports``), and moves ``known`` on with each report.
"""

from __future__ import annotations

import bisect
import heapq
from abc import abstractmethod
from collections.abc import Collection, Iterator, Sequence
from typing import overload

from gradtui.model.events import BackwardDone, Event, LineReached, ValueWatched
from gradtui.model.thinning import SeriesSummary, ThinnedPoints


class EventIndex(Sequence[Event]):
    """Events with the questions ``history`` and ``navigation`` ask answered without a scan.

    Two kinds: ``IndexedEvents`` over a list in memory (a JSON timeline, a test's events),
    and the recording's ``StoredEvents`` (``gradtui.model.store.reader``), which answers
    each with an indexed query. Positions are event indices; ``upto`` is inclusive and
    ``start`` exclusive; nothing past what is known (``know``) is ever answered.
    """

    @abstractmethod
    def know(self, count: int) -> None: ...
    @abstractmethod
    def positions(self, kinds: Collection[str], upto: int | None = None) -> list[int]: ...
    @abstractmethod
    def last_positions(self, kinds: Collection[str], upto: int, limit: int) -> list[int]:
        """The last ``limit`` positions ``<= upto`` of events of ``kinds``, in order."""
    @abstractmethod
    def latest(self, kinds: Collection[str], upto: int) -> int | None: ...
    @abstractmethod
    def following(self, kinds: Collection[str], start: int) -> int | None: ...
    @abstractmethod
    def count_of(self, kind: str, upto: int) -> int: ...
    @abstractmethod
    def line_following(self, spots: Collection[tuple[str, int]], start: int) -> int | None:
        """The first ``line`` event after ``start`` at one of ``spots`` (file, line)."""
    @abstractmethod
    def line_latest(self, spots: Collection[tuple[str, int]], upto: int) -> int | None: ...
    @abstractmethod
    def noted_following(self, start: int) -> int | None:
        """The first event after ``start`` that carries a note."""
    @abstractmethod
    def noted_latest(self, upto: int) -> int | None: ...
    @abstractmethod
    def loss_points(self, upto: int) -> list[tuple[int, float]]:
        """``(backward number from 1, loss)`` of each backward up to ``upto`` with a numeric loss."""
    @abstractmethod
    def watch_points(self, name: str, upto: int) -> list[tuple[int, float]]:
        """``(seq, value)`` of each watch of ``name`` up to ``upto`` with a value."""
    @abstractmethod
    def loss_series(self, upto: int, most: int) -> ThinnedPoints:
        """``loss_points`` up to ``upto`` as at most about ``most`` points (``gradtui.model.thinning``)."""
    @abstractmethod
    def watch_series(self, name: str, upto: int, most: int) -> ThinnedPoints:
        """The values of ``watch_points`` at x = 0, 1, 2 …, as at most about ``most`` points."""


class IndexedEvents(EventIndex):
    """The first ``known`` of ``events`` (appended to by its owner, never changed otherwise), indexed by kind.

    ``known`` defaults to all of them (a finished timeline).
    """

    def __init__(self, events: Sequence[Event], known: int | None = None) -> None:
        self._events = events
        self._known = len(events) if known is None else known
        self._by_kind: dict[str, list[int]] = {}
        self._by_spot: dict[tuple[str, int], list[int]] = {}  # line events by (file, line)
        self._noted: list[int] = []
        self._indexed = 0
        self._loss: SeriesSummary | None = None
        self._watched: dict[str, SeriesSummary] = {}

    def know(self, count: int) -> None:
        """The engine has reported ``count`` events: they are complete and may be read."""
        if not 0 <= count <= len(self._events):
            raise ValueError(f"{count} events reported, {len(self._events)} recorded")
        self._known = max(self._known, count)

    def __len__(self) -> int:
        return self._known

    @overload
    def __getitem__(self, i: int) -> Event: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Event]: ...
    def __getitem__(self, i: int | slice) -> Event | Sequence[Event]:
        if isinstance(i, slice):
            return [self._events[j] for j in range(*i.indices(self._known))]  # only the slice is copied
        if i < 0:
            i += self._known
        if not 0 <= i < self._known:
            raise IndexError("event index out of range")
        return self._events[i]

    def __iter__(self) -> Iterator[Event]:
        for i in range(self._known):
            yield self._events[i]

    def _refresh(self) -> None:
        end = self._known
        for i in range(self._indexed, end):
            event = self._events[i]
            self._by_kind.setdefault(event.kind, []).append(i)
            if isinstance(event, LineReached):
                self._by_spot.setdefault((event.file, event.line), []).append(i)
            if event.notes:
                self._noted.append(i)
        self._indexed = end

    def positions(self, kinds: Collection[str], upto: int | None = None) -> list[int]:
        """Positions of events of ``kinds`` (up to ``upto`` inclusive), in order."""
        self._refresh()
        lists = [self._by_kind.get(k, []) for k in kinds]
        if upto is not None:
            lists = [seqs[: bisect.bisect_right(seqs, upto)] for seqs in lists]
        return lists[0] if len(lists) == 1 else list(heapq.merge(*lists))

    def latest(self, kinds: Collection[str], upto: int) -> int | None:
        """The last position ``<= upto`` of an event of ``kinds``."""
        self._refresh()
        best = None
        for k in kinds:
            seqs = self._by_kind.get(k, [])
            i = bisect.bisect_right(seqs, upto)
            if i and (best is None or seqs[i - 1] > best):
                best = seqs[i - 1]
        return best

    def following(self, kinds: Collection[str], start: int) -> int | None:
        """The first position ``> start`` of an event of ``kinds``."""
        self._refresh()
        best = None
        for k in kinds:
            seqs = self._by_kind.get(k, [])
            i = bisect.bisect_right(seqs, start)
            if i < len(seqs) and (best is None or seqs[i] < best):
                best = seqs[i]
        return best

    def count_of(self, kind: str, upto: int) -> int:
        self._refresh()
        return bisect.bisect_right(self._by_kind.get(kind, []), upto)

    def last_positions(self, kinds: Collection[str], upto: int, limit: int) -> list[int]:
        if limit <= 0:
            return []
        self._refresh()
        lists = []
        for k in kinds:
            seqs = self._by_kind.get(k, [])
            end = bisect.bisect_right(seqs, upto)
            lists.append(seqs[max(0, end - limit):end])
        return list(heapq.merge(*lists))[-limit:]

    def line_following(self, spots: Collection[tuple[str, int]], start: int) -> int | None:
        self._refresh()
        return _first_after([self._by_spot.get(spot, []) for spot in spots], start)

    def line_latest(self, spots: Collection[tuple[str, int]], upto: int) -> int | None:
        self._refresh()
        return _last_upto([self._by_spot.get(spot, []) for spot in spots], upto)

    def noted_following(self, start: int) -> int | None:
        self._refresh()
        return _first_after([self._noted], start)

    def noted_latest(self, upto: int) -> int | None:
        self._refresh()
        return _last_upto([self._noted], upto)

    def loss_points(self, upto: int) -> list[tuple[int, float]]:
        points: list[tuple[int, float]] = []
        for number, i in enumerate(self.positions([BackwardDone.kind], upto), start=1):
            loss = _number(getattr(self._events[i], "loss", None))
            if loss is not None:
                points.append((number, loss))
        return points

    def watch_points(self, name: str, upto: int) -> list[tuple[int, float]]:
        points: list[tuple[int, float]] = []
        for i in self.positions([ValueWatched.kind], upto):
            event = self._events[i]
            if isinstance(event, ValueWatched) and event.name == name and event.value is not None:
                points.append((i, float(event.value)))
        return points

    def loss_series(self, upto: int, most: int) -> ThinnedPoints:
        if self._loss is None:
            self._loss = SeriesSummary(self._loss_rows)
        return self._loss.thinned(min(upto, self._known - 1), most)

    def watch_series(self, name: str, upto: int, most: int) -> ThinnedPoints:
        summary = self._watched.get(name)
        if summary is None:
            summary = self._watched[name] = SeriesSummary(lambda a, u, n: self._watch_rows(name, a, u, n), ordinal=True)
        return summary.thinned(min(upto, self._known - 1), most)

    def _loss_rows(self, after: int, upto: int, limit: int) -> list[tuple[int, float, float]]:
        self._refresh()
        seqs = self._by_kind.get(BackwardDone.kind, [])
        rows: list[tuple[int, float, float]] = []
        for nth in range(bisect.bisect_right(seqs, after), bisect.bisect_right(seqs, upto)):
            if len(rows) == limit:  # a negative limit: no limit, as in SQL
                break
            loss = _number(getattr(self._events[seqs[nth]], "loss", None))
            if loss is not None:
                rows.append((seqs[nth], float(nth + 1), loss))
        return rows

    def _watch_rows(self, name: str, after: int, upto: int, limit: int) -> list[tuple[int, float, float]]:
        self._refresh()
        seqs = self._by_kind.get(ValueWatched.kind, [])
        rows: list[tuple[int, float, float]] = []
        for i in seqs[bisect.bisect_right(seqs, after):bisect.bisect_right(seqs, upto)]:
            if len(rows) == limit:
                break
            event = self._events[i]
            if isinstance(event, ValueWatched) and event.name == name and event.value is not None:
                rows.append((i, 0.0, float(event.value)))
        return rows


def _number(value: object) -> float | None:
    """A loss as the plot reads it: a number (NaN and inf included), never a flag."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _first_after(lists: Sequence[list[int]], start: int) -> int | None:
    found = [seqs[i] for seqs in lists if (i := bisect.bisect_right(seqs, start)) < len(seqs)]
    return min(found, default=None)


def _last_upto(lists: Sequence[list[int]], upto: int) -> int | None:
    found = [seqs[i - 1] for seqs in lists if (i := bisect.bisect_right(seqs, upto))]
    return max(found, default=None)
