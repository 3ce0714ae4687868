"""What the plot draws, decided before it is drawn: the scale, the points kept, what is left out.

The plot must never show garbage or hide a fact: NaN and inf are counted and named, a
log scale only ever shows positive values (the others are counted, or the plot falls
back to linear and says why), and thinning thousands of points for the screen keeps
each column's minimum and maximum so a spike stays visible. Pure functions of plain
numbers: free of Textual and plotext, so the tests call them directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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
    finite = [y for y in ys if math.isfinite(y)]
    if not finite or min(finite) <= 0:
        return "linear"
    return "log" if max(finite) / min(finite) >= LOG_RATIO else "linear"


def prepare(points: Sequence[tuple[float, float]], requested: Requested = "auto") -> Series:
    """The series to draw from ``(x, y)`` points in x order, on the ``requested`` scale."""
    nans = sum(1 for _, y in points if math.isnan(y))
    infs = sum(1 for _, y in points if math.isinf(y))
    finite = [(x, y) for x, y in points if math.isfinite(y)]
    scale: Scale = auto_scale([y for _, y in finite]) if requested == "auto" else requested
    kept = finite
    log_impossible = False
    if scale == "log":
        kept = [(x, y) for x, y in finite if y > 0]
        if not kept and finite:
            kept, scale, log_impossible = finite, "linear", True
    non_positive = len(finite) - len(kept)
    latest = points[-1] if points else None
    latest_left_out = latest[1] if latest is not None and (not kept or kept[-1][0] != latest[0]) else None
    return Series(xs=tuple(x for x, _ in kept), ys=tuple(y for _, y in kept), scale=scale, nans=nans,
                  infs=infs, non_positive=non_positive, log_impossible=log_impossible,
                  latest_left_out=latest_left_out)


def downsample(xs: Sequence[float], ys: Sequence[float], columns: int) -> tuple[list[float], list[float]]:
    """At most about ``2 * columns`` points: per column of x, its lowest and highest point.

    ``columns`` is the number of distinct x positions the screen can show (braille gives
    two per character). The first and last points are always kept, the last because the
    plot marks it. Points within a column keep their order, so the line still runs left
    to right.
    """
    if columns < 1 or len(xs) <= 2 * columns:
        return list(xs), list(ys)
    x0, x1 = xs[0], xs[-1]
    width = (x1 - x0) or 1.0
    keep: list[int] = []
    start = 0
    while start < len(xs):
        column = min(columns - 1, int((xs[start] - x0) / width * columns))
        end = start
        while end + 1 < len(xs) and min(columns - 1, int((xs[end + 1] - x0) / width * columns)) == column:
            end += 1
        low = min(range(start, end + 1), key=ys.__getitem__)
        high = max(range(start, end + 1), key=ys.__getitem__)
        keep.extend(sorted({low, high}))
        start = end + 1
    chosen = sorted({0, len(xs) - 1, *keep})
    return [xs[i] for i in chosen], [ys[i] for i in chosen]
