"""A long series for the plot, thinned without being read again: the extremes of each stretch.

The plot needs at most a few points per column of the screen, but which ones matter
depends on all of them: the lowest and the highest of each stretch (a spike must stay
visible), how many are NaN or inf (the panel says so), how many are ≤ 0 (a log scale
leaves them out). ``SeriesSummary`` reads each point once, as the run grows, into blocks
of ``BLOCK`` points that keep only that (and blocks of two blocks, of four …), so the
series of any prefix of the run comes out as at most about ``most`` points in
``O(most + log n)`` steps, holding a few dozen bytes per block. A prefix short enough is
given whole, exactly as it is (a tutorial never sees thinning); the first ``HEAD`` points
are kept as they are read for that, so a short run's plot, asked again on every backward
pass, costs a slice of them rather than reading the whole series again.
Pure data: no torch, no textual.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

#: Points per block of the lowest level.
BLOCK = 64
#: Points kept as read, from the first: more than the plot asks for whole (``PLOT_POINTS``),
#: few enough to hold (a hundred kilobytes or so).
HEAD = 4096
#: Points read from the events at a time while the summary catches up with the run.
_BATCH = 10_000

Point = tuple[float, float]
#: ``(seq, x, y)`` of the points with ``after < seq <= upto``, the first ``limit`` of them
#: (all of them for a negative ``limit``, as SQL's ``LIMIT -1``).
RowSource = Callable[[int, int, int], list[tuple[int, float, float]]]


@dataclass(frozen=True, slots=True)
class ThinnedPoints:
    """Points of a series up to a cursor, in x order; with ``exact`` False only the telling ones.

    Thinned, ``points`` holds the first and last points (of all, of the finite, of the
    positive ones) and, for every stretch, its lowest and highest finite point and its
    lowest positive one; the counts are of the whole series (of the thinned points only
    the very first and last may be NaN or inf).
    """

    points: tuple[Point, ...]
    #: How many points the series has up to the cursor.
    count: int
    exact: bool
    nans: int = 0
    infs: int = 0
    #: Finite points ≤ 0: what a log scale leaves out.
    non_positive: int = 0


@dataclass(frozen=True, slots=True)
class _Block:
    last_seq: int
    #: The lowest and highest finite point and the lowest positive one, in x order, each once.
    telling: tuple[Point, ...]
    low: Point | None
    high: Point | None
    low_positive: Point | None
    #: The first point, the first finite, the first positive; the last positive, finite, and
    #: last point: where a plot's x axis starts and ends, whatever its scale.
    ends: tuple[Point | None, ...]
    nans: int
    infs: int
    non_positive: int


def _pick(a: Point | None, b: Point | None, lower: bool) -> Point | None:
    if a is None or b is None:
        return a if b is None else b
    return (b if b[1] < a[1] else a) if lower else (b if b[1] > a[1] else a)


def _block(last_seq: int, low: Point | None, high: Point | None, low_positive: Point | None,
           ends: tuple[Point | None, ...], nans: int, infs: int, non_positive: int) -> _Block:
    telling = tuple(sorted({p for p in (low, high, low_positive) if p is not None}))
    return _Block(last_seq, telling, low, high, low_positive, ends, nans, infs, non_positive)


def _of_points(points: list[tuple[int, float, float]]) -> _Block:
    low = high = low_positive = None
    finite: list[Point] = []
    positive: list[Point] = []
    nans = infs = 0
    for _, x, y in points:
        if math.isnan(y):
            nans += 1
        elif math.isinf(y):
            infs += 1
        else:
            p = (x, y)
            finite.append(p)
            low, high = _pick(low, p, True), _pick(high, p, False)
            if y > 0:
                positive.append(p)
                low_positive = _pick(low_positive, p, True)
    first, last = (points[0][1], points[0][2]), (points[-1][1], points[-1][2])
    ends = (first, finite[0] if finite else None, positive[0] if positive else None,
            positive[-1] if positive else None, finite[-1] if finite else None, last)
    return _block(points[-1][0], low, high, low_positive, ends, nans, infs, len(finite) - len(positive))


def _merged(a: _Block, b: _Block) -> _Block:
    half = len(a.ends) // 2
    ends = (*(x if x is not None else y for x, y in zip(a.ends[:half], b.ends[:half])),
            *(y if y is not None else x for x, y in zip(a.ends[half:], b.ends[half:])))
    return _block(b.last_seq, _pick(a.low, b.low, True), _pick(a.high, b.high, False),
                  _pick(a.low_positive, b.low_positive, True), ends, a.nans + b.nans, a.infs + b.infs,
                  a.non_positive + b.non_positive)


class SeriesSummary:
    """One series of the run (the loss per backward, a watched value), summed up as it is read.

    ``rows`` reads points from the events (by seq, in order). With ``ordinal`` the x of a
    point is its place in the series (from 0), whatever ``rows`` gives.
    """

    def __init__(self, rows: RowSource, ordinal: bool = False) -> None:
        self._rows = rows
        self._ordinal = ordinal
        self._read = -1  # every point with seq <= this is summed up
        self._count = 0
        self._pending: list[tuple[int, float, float]] = []  # the points after the last full block
        self._levels: list[list[_Block]] = [[]]  # level j: blocks of BLOCK * 2**j points
        self._ends: list[int] = []  # the last seq of each block of level 0
        self._head: list[Point] = []  # the first HEAD points, as the plot gets them
        self._head_seqs: list[int] = []

    def _take(self, upto: int) -> None:
        while self._read < upto:
            rows = self._rows(self._read, upto, _BATCH)
            for seq, x, y in rows:
                point = (seq, float(self._count) if self._ordinal else x, y)
                self._pending.append(point)
                if self._count < HEAD:
                    self._head.append(point[1:])
                    self._head_seqs.append(seq)
                self._count += 1
                if len(self._pending) == BLOCK:
                    self._close_block()
            self._read = upto if len(rows) < _BATCH else rows[-1][0]

    def _close_block(self) -> None:
        block = _of_points(self._pending)
        self._pending = []
        self._ends.append(block.last_seq)
        levels, j = self._levels, 0
        levels[0].append(block)
        while len(levels[j]) % 2 == 0:
            if j + 1 == len(levels):
                levels.append([])
            levels[j + 1].append(_merged(levels[j][-2], levels[j][-1]))
            j += 1

    def _raw(self, after: int, upto: int, limit: int) -> list[tuple[int, float, float]]:
        """The points with ``after < seq <= upto`` as they are read (x counted for ``ordinal``)."""
        rows = self._rows(after, upto, limit)
        if not self._ordinal:
            return rows
        start = self._count_upto(after)
        return [(seq, float(start + i), y) for i, (seq, _, y) in enumerate(rows)]

    def _count_upto(self, seq: int) -> int:
        blocks = bisect_right(self._ends, seq)
        if blocks < len(self._ends):
            before = self._ends[blocks - 1] if blocks else -1
            return blocks * BLOCK + len(self._rows(before, seq, BLOCK))
        return blocks * BLOCK + sum(1 for s, _, _ in self._pending if s <= seq)

    def thinned(self, upto: int, most: int) -> ThinnedPoints:
        """The series up to seq ``upto``: whole when it has at most ``most`` points, else thinned."""
        self._take(upto)
        head = self._head_seqs
        if len(head) == self._count or head[-1] >= upto:  # every point up to the cursor is in the head
            count = bisect_right(head, upto)
            if count <= most:
                return ThinnedPoints(tuple(self._head[:count]), count, exact=True)
        blocks = bisect_right(self._ends, upto)
        if blocks < len(self._ends):  # the cursor is inside a full block: read its start again
            rest = self._raw(self._ends[blocks - 1] if blocks else -1, upto, BLOCK)
        else:
            rest = [p for p in self._pending if p[0] <= upto]
        count = blocks * BLOCK + len(rest)
        if count == 0:
            return ThinnedPoints((), 0, exact=True)
        if count <= most:
            return ThinnedPoints(tuple((x, y) for _, x, y in self._raw(-1, upto, count)), count, exact=True)
        chosen = self._cover(blocks, max(1, most // 3))
        if rest:
            chosen.append(_of_points(rest))
        points: list[Point] = [p for block in chosen for p in block.telling]
        whole = reduce(_merged, chosen)
        points.extend(p for p in whole.ends if p is not None)
        return ThinnedPoints(tuple(sorted(set(points))), count, exact=False, nans=whole.nans, infs=whole.infs,
                             non_positive=whole.non_positive)

    def _cover(self, blocks: int, budget: int) -> list[_Block]:
        """The first ``blocks`` blocks of level 0 as at most about ``budget`` blocks, in order."""
        levels, j = self._levels, 0
        while (blocks >> j) > budget and j + 1 < len(levels):
            j += 1
        chosen = levels[j][: blocks >> j]
        start = (blocks >> j) << j
        for k in range(j - 1, -1, -1):
            if blocks & (1 << k):
                chosen.append(levels[k][start >> k])
                start += 1 << k
        return chosen
