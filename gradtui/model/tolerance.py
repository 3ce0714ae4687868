"""When two recorded numbers or tensors count as the same, and how far apart they are when not.

Comparing two runs (``gradtui --compare``, ``gradtui diff``) asks this of every value both
recorded. The rule is ``torch.allclose``'s, made symmetric so that swapping the runs gives
the same answer: ``|a − b| <= atol + rtol * max(|a|, |b|)``, with NaN equal to NaN and an
infinity equal only to itself (two runs that both overflowed at the same place agree).
The defaults are ``torch.allclose``'s: ``rtol=1e-05``, ``atol=1e-08``.

A tensor kept with its values is compared element by element and reported by its largest
``|Δ|``. A larger tensor kept as statistics only (above ``--max-values`` elements) is
compared by those statistics (min, max, mean, std, norm, NaN and inf counts): two runs
whose statistics agree within tolerance are taken to agree, which can miss a difference
that leaves all of them unchanged; the sentence says so. Must not import torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gradtui.model.formatting import format_number, format_shape, stats_from_values
from gradtui.model.tensors import TensorStats, TensorSummary

DEFAULT_RTOL = 1e-05
DEFAULT_ATOL = 1e-08

#: The statistics compared for a tensor kept without its values, in the order they are named.
_STATS = ("min", "max", "mean", "std", "norm")


@dataclass(frozen=True, slots=True)
class Tolerance:
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL

    def close(self, a: float, b: float) -> bool:
        """Whether two numbers agree (NaN with NaN, an infinity with the same infinity)."""
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return abs(a - b) <= self.atol + self.rtol * max(abs(a), abs(b))

    def text(self) -> str:
        """``rtol 1e-05, atol 1e-08``: how the sentences name the tolerance."""
        return f"rtol {self.rtol:g}, atol {self.atol:g}"


@dataclass(frozen=True, slots=True)
class Gap:
    """How two values differ: a few words for a person, and the size for a summary.

    ``size`` is the largest ``|Δ|`` between elements (``inf`` where one side is NaN or
    infinite and the other not), or for statistics-only tensors the largest ``|Δ|``
    between their statistics (``exact`` False); None where the two cannot be put on one
    scale (a different shape, a tensor against None).
    """

    text: str
    size: float | None
    exact: bool = True


def delta(a: float, b: float) -> float:
    """``|a − b|``, 0 for two NaN or the same infinity, inf where only one side is finite."""
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return abs(a - b)


def _as_float(v: Any) -> float:
    return float(v) if not isinstance(v, complex) else abs(v)


def number_gap(a: object, b: object, tol: Tolerance) -> Gap | None:
    """None when two recorded numbers (or flags, or None) agree, else ``0.1 vs 0.01``."""
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return None if a == b else Gap(f"{_shown(a)} vs {_shown(b)}", None)
    if tol.close(float(a), float(b)):
        return None
    return Gap(f"{format_number(a)} vs {format_number(b)}", delta(float(a), float(b)))


def _shown(v: object) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_shown(x) for x in v) + ")"
    return format_number(v) if isinstance(v, (int, float)) else str(v)


def tensor_gap(a: TensorSummary | None, b: TensorSummary | None, tol: Tolerance) -> Gap | None:
    """None when two recorded tensors agree within ``tol``, else what differs."""
    if a is None or b is None:
        if a is None and b is None:
            return None
        return Gap("None vs a tensor" if a is None else "a tensor vs None", None)
    if a.shape != b.shape:
        return Gap(f"shape {format_shape(a.shape)} vs {format_shape(b.shape)}", None)
    if a.dtype != b.dtype:
        return Gap(f"dtype {a.dtype} vs {b.dtype}", None)
    va, vb = a.flat_values(), b.flat_values()
    if va is not None and vb is not None:
        return _values_gap(va, vb, tol)
    return _stats_gap(_stats_of(a), _stats_of(b), tol)


def _values_gap(va: list[Any], vb: list[Any], tol: Tolerance) -> Gap | None:
    worst = 0.0
    worst_at = -1
    for i, (x, y) in enumerate(zip(va, vb)):
        fx, fy = _as_float(x), _as_float(y)
        if not tol.close(fx, fy):
            d = delta(fx, fy)
            if worst_at < 0 or d > worst:
                worst, worst_at = d, i
    if worst_at < 0:
        return None
    x, y = _as_float(va[worst_at]), _as_float(vb[worst_at])
    if math.isnan(x) != math.isnan(y):
        return Gap(f"NaN in run {'A' if math.isnan(x) else 'B'} where run {'B' if math.isnan(x) else 'A'} has "
                   f"{format_number(y if math.isnan(x) else x)}{_at(worst_at, len(va))}", math.inf)
    if len(va) == 1:
        return Gap(f"{format_number(x)} vs {format_number(y)} (|Δ| {worst:.2g})", worst)
    return Gap(f"max |Δ| {worst:.2g}{_at(worst_at, len(va))}", worst)


def _at(i: int, n: int) -> str:
    return f" at element {i}" if n > 1 else ""


def _stats_of(t: TensorSummary) -> TensorStats | None:
    return t.stats if t.values is None else stats_from_values(t)


def _stats_gap(sa: TensorStats | None, sb: TensorStats | None, tol: Tolerance) -> Gap | None:
    if sa is None or sb is None:
        return None if sa is None and sb is None else Gap("statistics kept for only one run", None, exact=False)
    if sa.nan != sb.nan:
        return Gap(f"{sa.nan} vs {sb.nan} NaN elements (statistics only)", math.inf, exact=False)
    if sa.inf != sb.inf:
        return Gap(f"{sa.inf} vs {sb.inf} infinite elements (statistics only)", math.inf, exact=False)
    worst: tuple[float, str, float, float] | None = None
    for name in _STATS:
        x, y = getattr(sa, name), getattr(sb, name)
        if x is None or y is None:
            if (x is None) != (y is None):
                return Gap(f"{name} {format_number(x)} vs {format_number(y)} (statistics only)", None, exact=False)
            continue
        if not tol.close(x, y):
            d = delta(x, y)
            if worst is None or d > worst[0]:
                worst = (d, name, x, y)
    if worst is None:
        return None
    d, name, x, y = worst
    return Gap(f"{name} {format_number(x)} vs {format_number(y)} (|Δ| {d:.2g}; statistics only: values above "
               "--max-values elements are not kept)", d, exact=False)
