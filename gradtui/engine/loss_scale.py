"""Remembering what ``GradScaler.scale`` multiplied a loss by, so the loss is shown unscaled.

Mixed-precision training calls ``scaler.scale(loss).backward()``: the root of the
backward is the loss times a large factor (65536 at first), and a loss curve of those
values says nothing about training. The scaled tensor is remembered (weakly) with its
factor when ``scale`` returns it (``gradtui.engine.scaler_events`` wraps ``scale``); a
backward from it reports the script's own loss and the factor beside it. The gradients
stay as torch computed them: scaled.
"""

from __future__ import annotations

from typing import Any

import torch

from gradtui.engine.identity import IdentityTable


class LossScales:
    """The tensors ``scale`` returned, each with the factor it multiplied by."""

    def __init__(self) -> None:
        self._scaled: IdentityTable[float] = IdentityTable()

    def remember(self, scaled: Any, scaler: Any) -> None:
        if not isinstance(scaled, torch.Tensor):
            return  # scale() of a list or tuple of outputs: not a single loss
        factor = scale_factor(scaler)
        if factor is not None:
            self._scaled.put(scaled, factor)

    def scale_of(self, t: torch.Tensor) -> float | None:
        return self._scaled.get(t)


def scale_factor(scaler: Any) -> float | None:
    """The scaler's current loss scale, or None while it has none (disabled, or before its first ``scale``)."""
    if not getattr(scaler, "_enabled", True):
        return None
    scale = getattr(scaler, "_scale", None)
    if isinstance(scale, torch.Tensor) and scale.numel() == 1:
        with torch._C.DisableTorchFunction():
            return float(scale.detach().reshape(-1)[0].item())
    return None
