"""What the timeline keeps of one tensor at one moment: shape, dtype, and values or statistics.

A summary must outlive the tensor it describes and load where torch is not installed,
so it holds only Python numbers. The engine may hand over the statistics of a large
tensor as a zero-argument callable: computing them costs 10-25x a clone, so they are
computed the first time somebody asks (a panel on screen, or the JSON writer), once.
This module must not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradtui.model.quick_init import quick_init

#: Values as nested lists, shaped like the tensor: floats, ints, bools, or for a 0-d
#: tensor a bare number.
Values = float | int | bool | list[Any]


@quick_init
@dataclass(frozen=True, slots=True)
class TensorStats:
    """Summary statistics of a tensor too large to keep whole.

    ``min``/``max``/``mean``/``std``/``norm`` are taken over the finite elements only,
    so one NaN does not hide the rest; ``nan`` and ``inf`` count the others. A field is
    ``None`` where it has no meaning (no finite element, or ``std`` of one element).
    """

    numel: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    norm: float | None
    nan: int = 0
    inf: int = 0


StatsSource = Callable[[], "TensorStats | None"]


class TensorSummary:
    """One tensor as the timeline keeps it; immutable once built.

    ``values`` is set for tensors up to the engine's ``max_values`` elements, ``stats``
    for larger ones. ``stats`` may be computed lazily from ``stats_source``.
    """

    __slots__ = ("shape", "dtype", "requires_grad", "grad_fn", "values", "_stats", "_source")

    shape: tuple[int, ...]
    dtype: str
    requires_grad: bool
    grad_fn: str | None
    values: Values | None
    _stats: TensorStats | None
    _source: StatsSource | None

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: str,
        requires_grad: bool = False,
        grad_fn: str | None = None,
        values: Values | None = None,
        stats: TensorStats | None = None,
        stats_source: StatsSource | None = None,
    ) -> None:
        # Through the slots' own setters (bound below the class): a summary is built for
        # every tensor an event carries, and ``object.__setattr__`` cost twice as much.
        _set_shape(self, shape if type(shape) is tuple else tuple(shape))
        _set_dtype(self, dtype)
        _set_requires_grad(self, requires_grad)
        _set_grad_fn(self, grad_fn)
        _set_values(self, values)
        _set_stats(self, stats)
        _set_source(self, stats_source)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TensorSummary is immutable")

    @property
    def stats(self) -> TensorStats | None:
        """Statistics, computed on first use when the engine deferred them."""
        source = self._source
        if source is not None:
            object.__setattr__(self, "_stats", source())
            object.__setattr__(self, "_source", None)
        return self._stats

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def scalar(self) -> float | int | bool | None:
        """The single value of a one-element tensor, else ``None``."""
        if self.values is None or self.numel != 1:
            return None
        value: Any = self.values
        while isinstance(value, list):
            value = value[0]
        return value  # type: ignore[no-any-return]

    def flat_values(self) -> list[Any] | None:
        """Values in row-major order, or ``None`` when only statistics were kept."""
        if self.values is None:
            return None
        out: list[Any] = []
        _flatten(self.values, out)
        return out

    def has_non_finite(self) -> bool:
        """Whether any element is NaN or inf (False when neither values nor statistics were kept)."""
        flat = self.flat_values()
        if flat is not None:
            return any(isinstance(v, float) and not math.isfinite(v) for v in flat)
        stats = self.stats
        return stats is not None and (stats.nan > 0 or stats.inf > 0)

    def is_all_zero(self) -> bool:
        """Whether every element is 0 (what ``zero_grad(set_to_none=False)`` leaves)."""
        flat = self.flat_values()
        if flat is not None:
            return all(v == 0 for v in flat)
        stats = self.stats
        return stats is not None and stats.min == 0 and stats.max == 0 and stats.nan == stats.inf == 0

    def _key(self) -> tuple[object, ...]:
        return (self.shape, self.dtype, self.requires_grad, self.grad_fn, self.values, self.stats)

    def __eq__(self, other: object) -> bool:
        if other is self:  # the same summary handed on (a tensor whose version did not move)
            return True
        if not isinstance(other, TensorSummary):
            return NotImplemented
        return _same(self._key(), other._key())

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.grad_fn))

    def __repr__(self) -> str:
        what = f"values={self.values!r}" if self.values is not None else f"stats={self.stats!r}"
        return f"TensorSummary(shape={list(self.shape)}, dtype={self.dtype}, grad_fn={self.grad_fn}, {what})"


_set_shape, _set_dtype, _set_requires_grad, _set_grad_fn, _set_values, _set_stats, _set_source = (
    getattr(TensorSummary, name).__set__ for name in TensorSummary.__slots__)


def _flatten(value: Any, out: list[Any]) -> None:
    if isinstance(value, list):
        if any(isinstance(item, list) for item in value):
            for item in value:
                _flatten(item, out)
        else:  # the innermost level (a vector's values): taken whole
            out.extend(value)
    else:
        out.append(value)


def _same(a: object, b: object) -> bool:
    """Equality in which NaN equals NaN, so a summary equals its own JSON round trip."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, TensorStats) and isinstance(b, TensorStats):
        return _same(
            [getattr(a, f) for f in a.__slots__], [getattr(b, f) for f in b.__slots__]
        )
    return a == b
