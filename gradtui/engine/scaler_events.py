"""``torch.amp.GradScaler`` as events: the loss scale, unscaling, the inf check and a skipped step.

Mixed-precision training multiplies the loss by a large factor before backward
(``scaler.scale(loss)``), divides the gradients by it again (``scaler.unscale_(opt)``,
explicitly before clipping or inside ``scaler.step(opt)``), skips ``opt.step()`` when an
unscaled gradient is inf or NaN, and lowers or raises the factor (``scaler.update()``).
Each of these changes what the script's gradients and parameters are, and a skipped
step changes nothing where the user expects an update, so each is an event:

* ``scale``: the tensor it returned is remembered with its factor (``LossScales``), so a
  backward from it shows the script's own loss.
* ``unscale_``: a ``GradsUnscaled`` event, each ``.grad`` before and after.
* ``step``: when ``opt.step()`` did not run (no step hook fired), a ``StepTaken`` with
  ``skipped`` saying why; when it ran, the optimizer hooks recorded it as usual.
* ``update``: a ``ScaleUpdated`` event, the factor before and after.

A scaler that is disabled, a call from another thread, and an optimizer that handles
the scaling itself (``_step_supports_amp_scaling``: torch's fused optimizers) go straight
to torch. Every wrapper calls the original once with the script's arguments and returns
what it returned; torch's own work inside them is not recorded as the script's ops.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import torch

from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture
from gradtui.engine.loss_scale import LossScales, scale_factor
from gradtui.engine.naming import Namer
from gradtui.engine.optimizer_hooks import OptimizerHooks
from gradtui.engine.recorder import Recorder
from gradtui.engine.tensors import optimizer_params
from gradtui.model.events import Change, GradsUnscaled, Owner, ScaleUpdated
from gradtui.model.formatting import format_number

if TYPE_CHECKING:
    from gradtui.engine.patches import Patches

_no_torch_function = torch._C.DisableTorchFunction

#: Said on a skipped step: one skip is the scaler finding its scale, many are a problem.
SKIP_NOTE = (
    "{opt}.step() was skipped (inf/NaN gradients): a skip now and then is how GradScaler finds its "
    "scale; a skip on most steps means the loss overflows at any scale."
)
#: Said when ``update`` brings the scale under 1, as torch's own documentation warns.
LOW_SCALE_NOTE = (
    "{scaler}'s loss scale fell to {scale}, below 1: the gradients keep overflowing and the "
    "scaler now shrinks the loss instead of scaling it up. Look for inf/NaN in the loss or a "
    "model whose values exceed float16's range."
)


def skip_reason(opt: str, scale: float | None) -> str:
    after = f" (after unscaling by {format_number(scale)})" if scale is not None else ""
    return (f"GradScaler found inf/NaN in the gradients of {opt}{after}; the parameters were not "
            "updated and the scale will be lowered")


class ScalerEvents:
    """Wraps ``GradScaler.scale`` / ``unscale_`` / ``step`` / ``update`` for one run (a ``PatchSet``)."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer,
                 optimizers: OptimizerHooks, loss_scales: LossScales) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._optimizers = optimizers
        self._loss_scales = loss_scales

    def install(self, patches: Patches) -> None:
        scaler_cls = getattr(getattr(torch, "amp", None), "GradScaler", None)
        if scaler_cls is None:  # pragma: no cover - torch without torch.amp.GradScaler
            return
        wrappers: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
            "scale": self._wrap_scale, "unscale_": self._wrap_unscale,
            "step": self._wrap_step, "update": self._wrap_update,
        }
        for name, wrap in wrappers.items():
            original = scaler_cls.__dict__.get(name)
            if callable(original):
                patches.set_class_attr(scaler_cls, name, functools.wraps(original)(wrap(original)))

    def _ours(self, scaler: Any) -> bool:
        return bool(getattr(scaler, "_enabled", False)) and self._attribution.in_script_thread()

    # ------------------------------------------------------------------ the wrappers

    def _wrap_scale(self, original: Callable[..., Any]) -> Callable[..., Any]:
        loss_scales = self._loss_scales

        def scale(scaler: Any, outputs: Any) -> Any:
            scaled = original(scaler, outputs)
            loss_scales.remember(scaled, scaler)  # harmless from any thread: a weak table
            return scaled

        return scale

    def _wrap_unscale(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def unscale_(scaler: Any, optimizer: Any) -> Any:
            if not self._ours(scaler):
                return original(scaler, optimizer)
            return self._unscale(original, scaler, optimizer, self._attribution.user_frame(sys._getframe(1)))

        return unscale_

    def _wrap_step(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def step(scaler: Any, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            if not self._ours(scaler) or getattr(optimizer, "_step_supports_amp_scaling", False):
                return original(scaler, optimizer, *args, **kwargs)
            begun = self._optimizers.steps_begun
            result = original(scaler, optimizer, *args, **kwargs)
            if self._optimizers.steps_begun == begun:  # no step hook fired: torch skipped opt.step()
                self._skipped(scaler, optimizer, self._attribution.user_frame(sys._getframe(1)))
            return result

        return step

    def _wrap_update(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def update(scaler: Any, *args: Any, **kwargs: Any) -> Any:
            if not self._ours(scaler):
                return original(scaler, *args, **kwargs)
            return self._update(original, scaler, args, kwargs, self._attribution.user_frame(sys._getframe(1)))

        return update

    # ------------------------------------------------------------------ the events

    def _unscale(self, original: Callable[..., Any], scaler: Any, optimizer: Any, frame: FrameType | None) -> Any:
        capture = self._capture
        with _no_torch_function():
            params = optimizer_params(optimizer)
            index = self._namer.index(frame)
            names = [index.name(p) for p in params]
            before = [capture.summarize(p.grad) for p in params]
            scale = scale_factor(scaler)
            result = original(scaler, optimizer)  # torch's unscaling is not the script's ops
            # Unscaling divides in place without bumping ``_version``: read the grads anew.
            after = [capture.summarize_fresh(p.grad) if p.grad is not None else None for p in params]
            found_inf = _found_inf(scaler, optimizer)
        if scale is None:  # pragma: no cover - unscale_ raised before, without a scale
            return result
        file, line = self._recorder.at(frame)
        grads = {n: Change(b, a) for n, b, a in zip(names, before, after)}
        self._recorder.emit(GradsUnscaled, file, line, scaler=self._owner(scaler, frame),
                            optimizer=self._owner(optimizer, frame), scale=scale, found_inf=found_inf, grads=grads)
        return result

    def _skipped(self, scaler: Any, optimizer: Any, frame: FrameType | None) -> None:
        with _no_torch_function():
            name = self._namer.owner_name(optimizer, frame)
            reason = skip_reason(name, scale_factor(scaler))
        self._optimizers.record_skipped_step(optimizer, frame, reason, (SKIP_NOTE.format(opt=name),))

    def _update(self, original: Callable[..., Any], scaler: Any, args: Any, kwargs: Any,
                frame: FrameType | None) -> Any:
        with _no_torch_function():
            before = scale_factor(scaler)
            found_inf = _found_inf(scaler, None)  # read first: update() forgets what the steps found
            result = original(scaler, *args, **kwargs)
            after = scale_factor(scaler)
        if before is None or after is None:  # pragma: no cover - update raised without a scale
            return result
        owner = self._owner(scaler, frame)
        notes = (LOW_SCALE_NOTE.format(scaler=owner.name, scale=format_number(after)),) if after < 1 <= before else ()
        file, line = self._recorder.at(frame)
        self._recorder.emit(ScaleUpdated, file, line, scaler=owner, before=before, after=after, found_inf=found_inf,
                            notes=notes)
        return result

    def _owner(self, obj: Any, frame: FrameType | None) -> Owner:
        with _no_torch_function():
            return Owner(self._namer.owner_name(obj, frame), type(obj).__name__)


def _found_inf(scaler: Any, optimizer: Any | None) -> bool:
    """Whether the scaler's inf check found inf/NaN for ``optimizer`` (any optimizer: None).

    Read from the scaler's per-optimizer record, which ``update()`` clears; a scaler whose
    layout is not torch's says False.
    """
    states = getattr(scaler, "_per_optimizer_states", None)
    if not isinstance(states, dict):
        return False
    chosen = [states.get(id(optimizer))] if optimizer is not None else list(states.values())
    for state in chosen:
        found = state.get("found_inf_per_device", {}) if isinstance(state, dict) else {}
        for t in found.values():
            if isinstance(t, torch.Tensor) and bool(t.detach().sum().item()):
                return True
    return False
