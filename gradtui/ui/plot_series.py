"""What the plot draws, decided before it is drawn: the scale, the points kept, what is left out.

The plot must never show garbage or hide a fact: NaN and inf are counted and named, a
log scale only ever shows positive values (the others are counted, or the plot falls
back to linear and says why), and thinning thousands of points for the screen keeps
each column's minimum and maximum so a spike stays visible. A long run's series comes
already thinned by the events' index the same way (``prepare_thinned``), its counts
those of every point. Pure functions of plain numbers: free of Textual and plotext, so
the tests call them directly.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Literal

from gradtui.model.thinning import ThinnedPoints

Scale = Literal["linear", "log"]
Requested = Literal["auto", "linear", "log"]

#: ``auto`` picks a log scale once the largest positive value is this many times the
#: smallest: two orders of magnitude, where a linear plot flattens everything but the start.
LOG_RATIO = 100.0


@dataclass(frozen=True, slots=True)
class Series:
    """The points to draw (real values, finite; positive on a log scale) and what was left out."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    scale: Scale
    #: Values that are NaN or ±inf: never drawn.
    nans: int = 0
    infs: int = 0
    #: Finite values ≤ 0, left out because the scale is logarithmic.
    non_positive: int = 0
    #: A log scale was asked for but no value is positive: the plot is linear instead.
    log_impossible: bool = False
    #: The value of the last point (the event on screen) when it was left out, else None.
    latest_left_out: float | None = None

    def notes(self) -> tuple[str, ...]:
        """Short sentences for what the plot does not show, in the order they matter."""
        notes: list[str] = []
        left = [f"{n} {what}" for n, what in ((self.nans, "NaN"), (self.infs, "inf")) if n]
        if left:
            notes.append(" and ".join(left) + " not drawn")
        if self.non_positive:
            notes.append(f"{self.non_positive} ≤ 0 not on log scale")
        if self.log_impossible:
            notes.append("no value > 0: linear")
        if self.latest_left_out is not None:
            notes.append(f"latest is {self.latest_left_out:g}")
        return tuple(notes)


def auto_scale(ys: Sequence[float]) -> Scale:
    """Log when every finite value is positive and they span ``LOG_RATIO`` or more."""
    return _auto([y for y in ys if math.isfinite(y)])


def _auto(finite: Sequence[float]) -> Scale:
    if not finite:
        return "linear"
    low = min(finite)
    return "log" if low > 0 and max(finite) / low >= LOG_RATIO else "linear"


def prepare(points: Sequence[tuple[float, float]], requested: Requested = "auto") -> Series:
    """The series to draw from ``(x, y)`` points in x order, on the ``requested`` scale."""
    all_xs, all_ys = tuple(map(itemgetter(0), points)), tuple(map(itemgetter(1), points))
    if math.isfinite(sum(all_ys)):  # no NaN or inf anywhere (either would make the sum one): skip the scan
        nans = infs = 0
        finite: Sequence[tuple[float, float]] = points
    else:
        nans = sum(1 for y in all_ys if math.isnan(y))
        infs = sum(1 for y in all_ys if math.isinf(y))
        finite = [(x, y) for x, y in points if math.isfinite(y)]
    finite_ys = all_ys if len(finite) == len(points) else tuple(y for _, y in finite)
    scale: Scale = _auto(finite_ys) if requested == "auto" else requested
    kept = finite
    log_impossible = False
    if scale == "log" and finite_ys and min(finite_ys) <= 0:
        kept = [(x, y) for x, y in finite if y > 0]
        if not kept:
            kept, scale, log_impossible = finite, "linear", True
    if len(kept) == len(points):
        xs, ys = all_xs, all_ys
    else:
        xs, ys = tuple(x for x, _ in kept), tuple(y for _, y in kept)
    latest = points[-1] if points else None
    latest_left_out = latest[1] if latest is not None and (not kept or kept[-1][0] != latest[0]) else None
    return Series(xs=xs, ys=ys, scale=scale, nans=nans, infs=infs, non_positive=len(finite) - len(kept),
                  log_impossible=log_impossible, latest_left_out=latest_left_out)


def prepare_thinned(thinned: ThinnedPoints, requested: Requested = "auto") -> Series:
    """``prepare`` for a series the events' index thinned (``gradtui.model.thinning``).

    The points kept hold every stretch's extremes, so the scale, the range and the last
    point come out as from the whole series; what was left out is counted over all of it.
    """
    series = prepare(thinned.points, requested)
    if thinned.exact:
        return series
    non_positive = thinned.non_positive if series.scale == "log" and not series.log_impossible else 0
    return replace(series, nans=thinned.nans, infs=thinned.infs, non_positive=non_positive)


def downsample(xs: Sequence[float], ys: Sequence[float], columns: int) -> tuple[list[float], list[float]]:
    """At most about ``2 * columns`` points: per column of x, its lowest and highest point.

    ``columns`` is the number of distinct x positions the screen can show (braille gives
    two per character); ``xs`` must be in increasing order. The first and last points are
    always kept, the last because the plot marks it. Points within a column keep their
    order, so the line still runs left to right.
    """
    count = len(xs)
    if columns < 1 or count <= 2 * columns:
        return list(xs), list(ys)
    x0, x1 = xs[0], xs[-1]
    width = (x1 - x0) or 1.0
    keep = {0, count - 1}
    start = 0
    for column in range(columns):
        end = count if column == columns - 1 else bisect_left(xs, x0 + width * (column + 1) / columns, lo=start)
        if end > start:
            chunk = list(ys[start:end])  # min, max and index run in C: 100,000 points in milliseconds
            keep.add(start + chunk.index(min(chunk)))
            keep.add(start + chunk.index(max(chunk)))
        start = end
    chosen = sorted(keep)
    return [xs[i] for i in chosen], [ys[i] for i in chosen]
