"""Remembering what ``GradScaler.scale`` multiplied a loss by, so the loss is shown unscaled.

Mixed-precision training calls ``scaler.scale(loss).backward()``: the root of the
backward is the loss times a large factor (65536 at first), and a loss curve of those
values says nothing about training. The scaled tensor is remembered (weakly) with its
factor when ``scale`` returns it; a backward from it reports the script's own loss and
the factor beside it. The gradients stay as torch computed them: scaled.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch


class LossScales:
    """id(scaled tensor) -> (weak reference, factor), for the tensors ``scale`` returned."""

    def __init__(self) -> None:
        self._scaled: dict[int, tuple[weakref.ref[torch.Tensor], float]] = {}

    def remember(self, scaled: Any, scaler: Any) -> None:
        if not isinstance(scaled, torch.Tensor):
            return  # scale() of a list or tuple of outputs: not a single loss
        factor = _factor(scaler)
        if factor is None:
            return
        key = id(scaled)
        table = self._scaled

        def forget(ref: weakref.ref[torch.Tensor]) -> None:
            current = table.get(key)
            if current is not None and current[0] is ref:
                del table[key]

        table[key] = (weakref.ref(scaled, forget), factor)

    def scale_of(self, t: torch.Tensor) -> float | None:
        entry = self._scaled.get(id(t))
        if entry is None or entry[0]() is not t:
            return None
        return entry[1]


def _factor(scaler: Any) -> float | None:
    if not getattr(scaler, "_enabled", True):
        return None
    scale = getattr(scaler, "_scale", None)
    if isinstance(scale, torch.Tensor) and scale.numel() == 1:
        with torch._C.DisableTorchFunction():
            return float(scale.detach().reshape(-1)[0].item())
    return None
