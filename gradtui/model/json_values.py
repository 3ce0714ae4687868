"""How the values inside a timeline file are spelled in JSON: numbers, tensors, changes.

The event and envelope codecs (``event_json``, ``codec``) build on these. Writing turns
non-finite floats into the strings ``"nan"``, ``"inf"`` and ``"-inf"``, because strict JSON
has no spelling for them; reading treats the document as data only, checking each field
and naming the place of a bad one in a ``TimelineFormatError``. No torch, no textual.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from gradtui.model.events import Change
from gradtui.model.tensors import TensorStats, TensorSummary


class TimelineFormatError(ValueError):
    """The file is not a readable gradtui timeline; the message says why, in one line."""


# ---------------------------------------------------------------- writing


def number_to_json(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _values(v: Any) -> Any:
    if isinstance(v, list):
        return [_values(x) for x in v]
    return number_to_json(v)


def tensor_to_json(t: TensorSummary | None, raw_values: bool = False) -> dict[str, Any] | None:
    """``raw_values`` leaves values as they are: only for a writer that refuses non-finite floats."""
    if t is None:
        return None
    stats = t.stats
    return {
        "shape": list(t.shape),
        "dtype": t.dtype,
        "requires_grad": t.requires_grad,
        "grad_fn": t.grad_fn,
        "values": None if t.values is None else (t.values if raw_values else _values(t.values)),
        "stats": None if stats is None else {k: number_to_json(getattr(stats, k)) for k in TensorStats.__slots__},
    }


#: How a tensor is spelled inside an event, when not as the v1 object: the recording
#: store (``gradtui.model.store``) writes a reference to its tensor table instead.
TensorWriter = Callable[[TensorSummary | None], Any]
TensorReader = Callable[[Any, str], TensorSummary | None]


def changes_to_json(changes: Mapping[str, Change], raw: bool, spell: TensorWriter | None = None) -> dict[str, Any]:
    if spell is not None:
        return {n: {"before": spell(c.before), "after": spell(c.after)} for n, c in changes.items()}
    return {n: {"before": tensor_to_json(c.before, raw), "after": tensor_to_json(c.after, raw)}
            for n, c in changes.items()}


def plain_to_json(v: Any, raw: bool, spell: TensorWriter | None = None) -> Any:
    """A hyperparameter or optimizer-state value: a tensor, a tuple or a number."""
    if isinstance(v, TensorSummary):
        return tensor_to_json(v, raw) if spell is None else spell(v)
    if isinstance(v, tuple):
        return [plain_to_json(x, raw, spell) for x in v]
    return number_to_json(v)


# ---------------------------------------------------------------- reading


class Reader:
    """Field-by-field checks; ``where`` names the place in the document for messages."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, what: str) -> TimelineFormatError:
        return TimelineFormatError(f"{self.where}: {what}")

    def get(self, d: Mapping[str, Any], key: str, types: type | tuple[type, ...], optional: bool = False) -> Any:
        if key not in d:
            if optional:
                return None
            raise self.fail(f"missing field '{key}'")
        v = d[key]
        if v is None and optional:
            return None
        if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise self.fail(f"field '{key}' has the wrong type")
        if not isinstance(v, types):
            raise self.fail(f"field '{key}' has the wrong type")
        return v


def number_from_json(x: Any) -> Any:
    if isinstance(x, str) and x in ("nan", "inf", "-inf"):
        return float(x)
    return x


def _unvalues(v: Any) -> Any:
    if isinstance(v, list):
        return [_unvalues(x) for x in v]
    return number_from_json(v)


def tensor_from_json(d: Any, where: str) -> TensorSummary | None:
    if d is None:
        return None
    r = Reader(where)
    if not isinstance(d, dict):
        raise r.fail("a tensor must be an object or null")
    shape = r.get(d, "shape", list)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise r.fail("'shape' must be a list of integers")
    stats = r.get(d, "stats", dict, optional=True)
    parsed_stats = None
    if stats is not None:
        try:
            parsed_stats = TensorStats(**{k: number_from_json(stats.get(k)) for k in TensorStats.__slots__})
        except TypeError as exc:  # pragma: no cover - defensive
            raise r.fail(f"bad 'stats': {exc}") from None
    values = d.get("values")
    return TensorSummary(
        shape=tuple(shape),
        dtype=r.get(d, "dtype", str),
        requires_grad=bool(r.get(d, "requires_grad", bool)),
        grad_fn=r.get(d, "grad_fn", str, optional=True),
        values=_unvalues(values) if values is not None else None,
        stats=parsed_stats,
    )


def changes_from_json(d: Any, where: str, read: TensorReader = tensor_from_json) -> dict[str, Change]:
    if not isinstance(d, dict):
        raise TimelineFormatError(f"{where}: must be an object")
    out = {}
    for name, c in d.items():
        if not isinstance(c, dict) or "before" not in c or "after" not in c:
            raise TimelineFormatError(f"{where}.{name}: needs 'before' and 'after'")
        out[name] = Change(read(c["before"], f"{where}.{name}.before"), read(c["after"], f"{where}.{name}.after"))
    return out


def plain_from_json(v: Any, where: str, read: TensorReader = tensor_from_json) -> Any:
    if isinstance(v, dict):
        return read(v, where)
    if isinstance(v, list):
        return tuple(number_from_json(x) for x in v)
    return number_from_json(v)
