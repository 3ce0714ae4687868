"""Tick marks for the plot that fit the space they have: never two labels on one row.

plotext picks its own ticks without knowing how few rows a panel has: at 80×24 its y
labels ran into each other and its x ticks were fractional (``500.8``) although the x
axis counts backward passes. Here the ticks are chosen for the rows and columns the
plot really has: round values, at least a row apart (two when there is room), whole
numbers on x, and on a log scale the real values (``1e5``, ``1e3``, ``10``), not their
logarithms. Pure arithmetic: no Textual, no plotext.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gradtui.ui.plot_series import Scale

#: Round steps within a decade, for values and for whole numbers.
_STEPS = (1.0, 2.0, 2.5, 5.0)
#: How many decades a log-scale tick may skip, at most.
_DECADE_STRIDES = (1, 2, 3, 4, 5, 10, 20, 50, 100)
#: Only short tick lists are thinned: longer ones have a coarser round step of their own.
_THIN_AT_MOST = 12
#: Marks inside a decade, from sparse to dense, when a log plot spans too few decades.
_MANTISSAS = ((1.0, 3.0), (1.0, 2.0, 5.0), tuple(float(m) for m in range(1, 10)))


@dataclass(frozen=True, slots=True)
class Ticks:
    """Tick positions in plot coordinates (log10 of the value on a log scale) and their labels."""

    positions: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()


def y_limits(lo: float, hi: float, scale: Scale) -> tuple[float, float]:
    """The y range in plot coordinates: the data's own, widened a little when it is one value."""
    if scale == "log":
        lo, hi = math.log10(lo), math.log10(hi)
        return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def y_axis(lo: float, hi: float, rows: int, scale: Scale) -> tuple[tuple[float, float], Ticks]:
    """The y limits and ticks (plot coordinates) for data from ``lo`` to ``hi`` (real values).

    One value (a single backward, a constant loss) is labelled with itself: a round tick
    near it would share its row and misread it (27 shown on the row labelled 27.5).
    """
    limits = y_limits(lo, hi, scale)
    if lo == hi:
        position = math.log10(lo) if scale == "log" else lo
        return limits, Ticks((position,), (f"{lo:.4g}",))
    return limits, y_ticks(*limits, rows, scale)


def y_ticks(lo: float, hi: float, rows: int, scale: Scale) -> Ticks:
    """Ticks for the y range ``lo``..``hi`` (plot coordinates) drawn over ``rows`` rows."""
    if rows < 2 or not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:  # one row has no scale
        return Ticks()
    # A blank row between linear labels once there is room for one; a log axis is read
    # by its decades, so those may sit on neighbouring rows.
    log = scale == "log"
    most = min(6, max(2, (rows + 2 if log else rows + 1) // 2))
    gap = 2 if rows >= 5 and not log else 1

    def fits(positions: Sequence[float]) -> bool:
        at = [row_of(p, lo, hi, rows) for p in positions]
        return all(b - a >= gap for a, b in zip(at, at[1:], strict=False))

    if log:
        groups = [_decade_ticks(lo, hi), _mantissa_ticks(lo, hi), _linear_in_log(lo, hi)]
    else:
        groups = [[(values, [_linear_label(v, step) for v in values]) for step, values in _round_ticks(lo, hi)]]
    return _choose(groups, fits, most)


def x_ticks(lo: float, hi: float, columns: int, margin: int = 0) -> Ticks:
    """Whole-number ticks for ``lo``..``hi`` drawn over ``columns`` columns, no label dropped.

    ``margin`` is how many columns the tick row has left of the plot (under the y labels),
    where the first label may spill.
    """
    if columns < 1 or hi < lo:
        return Ticks()
    first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    if first > last:
        return Ticks()
    if first == last or hi == lo:
        return Ticks((float(first),), (str(first),))

    def fits(positions: Sequence[float]) -> bool:
        return _labels_fit(positions, lo, hi, columns, margin)

    candidates = [(values, [str(int(v)) for v in values]) for _, values in _round_ticks(lo, hi, whole=True)]
    return _choose([candidates], fits, most=last - first + 1)


def _labels_fit(positions: Sequence[float], lo: float, hi: float, columns: int, margin: int) -> bool:
    """Whether plotext places every x label: it shifts a label off the edges and drops one
    that would touch another (its rule, from ``plotext._utility.correct_coord`` and
    ``_matrix.add_horizontal_string``, replayed on a row of blanks)."""
    row = [" "] * (margin + columns)
    for position in positions:
        label = str(int(position))
        size = len(label)
        col = margin + math.floor(0.5 + round((columns - 1) * (position - lo) / (hi - lo), 8))
        b, e = max(col - size + 1, 0), min(col + size, len(row) - 1)
        blanks = [i for i in range(b, e) if row[i] == " "]
        b, e = min(blanks, default=col - size + 1), max(blanks, default=col + size)
        b, e = e - size + 1, b + size
        start = (b + e - size) // 2
        # plotext wants one blank either side; two read better, so two are asked for.
        around = range(max(start - 2, 0), min(start + size + 2, len(row)))
        if start < 0 or start + size > len(row) or any(row[i] != " " for i in around):
            return False
        row[start:start + size] = label
    return True


def row_of(position: float, lo: float, hi: float, rows: int) -> int:
    """The row (0 at the bottom) plotext puts ``position`` on: it rounds half up."""
    return math.floor(0.5 + round((rows - 1) * (position - lo) / (hi - lo), 8))


def log_label(value: float) -> str:
    """A value on a log axis: ``0.01`` … ``500`` as they are, beyond that ``2e3``, ``1e5``, ``5e-4``."""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10**exponent
    if -2 <= exponent <= 2:
        return f"{value:g}"
    return f"{mantissa:g}e{exponent}"


# ---------------------------------------------------------------- candidates


Candidate = tuple[Sequence[float], Sequence[str]]


def _choose(groups: Iterable[Iterable[Candidate]], fits: Callable[[Sequence[float]], bool], most: int) -> Ticks:
    """The most ticks (2..``most``) that fit, from the first group that has any; failing
    that, every other tick (or third …) of a finer step; failing that, one tick."""
    groups = [list(group) for group in groups]
    single: Candidate | None = None
    for candidates in (groups, [_thinned(group) for group in groups]):
        for group in candidates:
            fitting = [c for c in group if c[0] and fits(c[0])]
            if single is None:
                single = next((c for c in fitting if len(c[0]) == 1), None)
            within = [c for c in fitting if 2 <= len(c[0]) <= most]
            if within:
                # Most ticks; then the shortest labels (2 before 2.5); then the widest
                # spread; then the highest, so the top of the curve is labelled.
                best = max(within, key=lambda c: (len(c[0]), -sum(map(len, c[1])), c[0][-1] - c[0][0], c[0][-1]))
                return Ticks(tuple(best[0]), tuple(best[1]))
            more = [c for c in fitting if len(c[0]) > most]
            if more:  # every round step gives too many: the sparsest of them
                best = min(more, key=lambda c: len(c[0]))
                return Ticks(tuple(best[0]), tuple(best[1]))
    return Ticks(tuple(single[0]), tuple(single[1])) if single else Ticks()


def _thinned(group: Iterable[Candidate]) -> list[Candidate]:
    """Every k-th tick of each candidate, from each start: 0.75 and 1.25 when
    0.75, 1.00, 1.25 are too close for the rows, and no multiple of 0.5 but 1.0 is in range."""
    out: list[Candidate] = []
    for positions, labels in group:
        if len(positions) <= _THIN_AT_MOST:
            for k in range(2, len(positions)):
                out.extend((positions[start::k], labels[start::k]) for start in range(k))
    return out


def _round_ticks(lo: float, hi: float, whole: bool = False) -> list[tuple[float, list[float]]]:
    """For each round step near the range's size, from fine to coarse: its multiples in range."""
    span = hi - lo
    top = math.floor(math.log10(span)) if span > 0 else 0
    out: list[tuple[float, list[float]]] = []
    for exponent in range(top - 2, top + 2):
        for m in _STEPS:
            step = m * 10.0**exponent
            if whole and (step < 1 or step != int(step)):
                continue
            first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
            if last - first > 200:
                continue
            out.append((step, [_clean(i * step) for i in range(first, last + 1)]))
    return out


def _decade_ticks(lo: float, hi: float) -> list[Candidate]:
    out: list[Candidate] = []
    first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    for stride in _DECADE_STRIDES:
        for offset in range(min(stride, last - first + 1)):
            powers = list(range(first + offset, last + 1, stride))
            out.append(([float(k) for k in powers], [log_label(10.0**k) for k in powers]))
    return out


def _mantissa_ticks(lo: float, hi: float) -> list[Candidate]:
    out: list[Candidate] = []
    for mantissas in _MANTISSAS:
        values = [m * 10.0**k for k in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in mantissas]
        inside = [v for v in values if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
        out.append(([math.log10(v) for v in inside], [log_label(v) for v in inside]))
    return out


def _linear_in_log(lo: float, hi: float) -> list[Candidate]:
    """Round values of a narrow range (less than a decade), placed on the log axis."""
    out: list[Candidate] = []
    for step, values in _round_ticks(10.0**lo, 10.0**hi):
        positive = [v for v in values if v > 0]
        out.append(([math.log10(v) for v in positive], [_linear_label(v, step) for v in positive]))
    return out


def _linear_label(value: float, step: float) -> str:
    """``value`` with as many decimals as ``step`` needs; in e-notation when very large or small."""
    if value != 0 and (abs(value) >= 1e6 or step < 1e-4):
        digits = max(0, math.floor(math.log10(abs(value))) - math.floor(math.log10(step)))
        mantissa, _, exponent = f"{value:.{digits}e}".partition("e")
        return f"{mantissa}e{int(exponent)}"
    decimals = next((d for d in range(10) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 10)
    return f"{value:.{decimals}f}"


def _clean(value: float) -> float:
    """Float noise off a multiple of a step (0.30000000000000004 → 0.3), and no -0."""
    return float(f"{value:.12g}") + 0.0
