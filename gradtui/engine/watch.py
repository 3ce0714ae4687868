"""Variables the user asked to follow (``--watch NAME``), read from the script's frames.

A script that never calls backward (the plain-Python gradient descent of the first
tutorial) has no loss for the app to plot; watching its variable gives the plot its
points. Values are read at each line event, innermost frame first and then its module,
and reported only when they change, so a long loop adds one event per update, not one
per line. Only numbers and one-element tensors are watched: anything else reads as None.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import torch

_MISSING = object()


def as_number(value: Any) -> float | None:
    """A plottable number from an int, a float or a one-element tensor; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        with torch._C.DisableTorchFunction():
            return float(value.detach().reshape(-1)[0].item())
    return None


class WatchList:
    """The watched names and the value each had when last reported."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(dict.fromkeys(names))
        self._last: dict[str, object] = {}

    def __bool__(self) -> bool:
        return bool(self.names)

    def changes(
        self, frame: FrameType | None, namespace: dict[str, Any] | None = None
    ) -> Iterator[tuple[str, float | None]]:
        """(name, value) for every watched name whose value differs from the last report."""
        for name in self.names:
            raw = _lookup(name, frame, namespace)
            if raw is _MISSING:
                continue
            value = as_number(raw)
            last = self._last.get(name, _MISSING)
            if last is not _MISSING and _same(last, value):
                continue
            self._last[name] = value
            yield name, value


def _lookup(name: str, frame: FrameType | None, namespace: dict[str, Any] | None) -> Any:
    if frame is not None:
        local = frame.f_locals.get(name, _MISSING)
        if local is not _MISSING:
            return local
        return frame.f_globals.get(name, _MISSING)
    return (namespace or {}).get(name, _MISSING)


def _same(a: object, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    assert isinstance(a, float)
    return a == b or (math.isnan(a) and math.isnan(b))
