"""Gradient clipping as events: what ``clip_grad_norm_`` and its kin did to every ``.grad``.

Clipping rewrites each gradient in place between ``backward()`` and ``step()``; without
an event the gradient history would jump with nothing to explain it. torch offers no
hook, so the functions of ``torch.nn.utils.clip_grad`` are wrapped wherever they are
bound (the module itself and the ``torch.nn.utils`` re-exports, so that ``nn.utils.X``,
``torch.nn.utils.X`` and ``from torch.nn.utils import X`` in the script all reach the
wrapper, the script being run after the patches are installed).

One call of the script is one ``clip`` event: ``clip_grad_norm_`` calls
``_get_total_norm`` and ``_clip_grads_with_norm_`` itself, and those inner calls pass
straight through. ``get_total_norm`` changes nothing and is no event; the norm type of a
total norm it returned is remembered, for a ``clip_grads_with_norm_`` given that norm.
The originals run with torch functions disabled, so their inner operations are never the
script's ops, and get exactly the arguments the script passed, except that a one-shot
iterable (``net.parameters()``, a generator) is read once here and handed on as a fresh
iterable of the same items (a generator stays a generator, for torch's empty-generator
warning).

The notes about clipping (a non-finite total norm; a threshold that clips almost always)
live here, with the state they need.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
import types
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.nn.utils import clip_grad as _clip_grad

from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture
from gradtui.engine.identity import IdentityTable
from gradtui.engine.naming import Namer
from gradtui.engine.patches import Patches
from gradtui.engine.recorder import Recorder
from gradtui.model.events import Change, GradsClipped
from gradtui.model.formatting import format_number

_no_torch_function = torch._C.DisableTorchFunction

#: ``clip_grad`` function name -> how the event calls it (the public spelling).
_NORM = {"clip_grad_norm_": "clip_grad_norm_", "clip_grad_norm": "clip_grad_norm"}
_VALUE = {"clip_grad_value_": "clip_grad_value_"}
_WITH_NORM = {"_clip_grads_with_norm_": "clip_grads_with_norm_", "clip_grads_with_norm_": "clip_grads_with_norm_"}
_TOTAL = ("_get_total_norm", "get_total_norm")

#: "Clipping is active on most steps": said once per call site (file, line, function),
#: when more than ``BUSY_SHARE`` of its last ``BUSY_WINDOW`` calls clipped. A window, not
#: the whole run: the large gradients of the first few dozen steps are clipped in many
#: healthy runs, and a threshold that is too low shows on every step after them as well.
BUSY_SHARE = 0.8
BUSY_WINDOW = 50


class _Site:
    __slots__ = ("recent", "said")

    def __init__(self) -> None:
        self.recent: deque[bool] = deque(maxlen=BUSY_WINDOW)
        self.said = False


class Clipping:
    """Wraps the clip functions for one run (a ``PatchSet``) and records the script's calls."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._depth = 0
        self._sites: dict[tuple[str, int, str], _Site] = {}
        #: Total norms ``get_total_norm`` returned -> the norm type it used.
        self._norm_types: IdentityTable[float] = IdentityTable()

    # ------------------------------------------------------------------ patching

    def install(self, patches: Patches) -> None:
        wrappers: dict[int, Any] = {}
        for name in (*_NORM, *_VALUE, *_WITH_NORM, *_TOTAL):
            original = getattr(_clip_grad, name, None)
            if callable(original) and id(original) not in wrappers:
                wrappers[id(original)] = self._wrapper(name, original)
        # Every binding of those functions, under whatever name: the re-exports included.
        for module in (_clip_grad, torch.nn.utils):
            for attr, value in list(vars(module).items()):
                wrapper = wrappers.get(id(value))
                if wrapper is not None:
                    patches.set_module_attr(module, attr, wrapper)

    def _wrapper(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)
        if name in _TOTAL:
            def run(*args: Any, **kwargs: Any) -> Any:
                return self._total_norm(original, signature, args, kwargs)
        else:
            function = {**_NORM, **_VALUE, **_WITH_NORM}[name]

            def run(*args: Any, **kwargs: Any) -> Any:
                return self._clip(function, original, signature, args, kwargs)

        return functools.wraps(original)(run)

    # ------------------------------------------------------------------ calls

    def _total_norm(self, original: Callable[..., Any], signature: inspect.Signature, args: Any, kwargs: Any) -> Any:
        if self._depth or not self._attribution.in_script_thread():
            return original(*args, **kwargs)
        self._depth += 1
        try:
            with _no_torch_function():
                result = original(*args, **kwargs)
        finally:
            self._depth -= 1
        try:
            norm_type = float(signature.bind(*args, **kwargs).arguments.get("norm_type", 2.0))
        except (TypeError, ValueError):
            return result
        if isinstance(result, torch.Tensor):
            self._norm_types.put(result, norm_type)
        return result

    def _clip(self, function: str, original: Callable[..., Any], signature: inspect.Signature,
              args: Any, kwargs: Any) -> Any:
        if self._depth or not self._attribution.in_script_thread():
            return original(*args, **kwargs)
        try:
            bound = signature.bind(*args, **kwargs)
            arguments = bound.arguments
            limit = float(arguments["clip_value" if function in _VALUE.values() else "max_norm"])
            params, passed = _materialize(arguments["parameters"])
        except (TypeError, ValueError, KeyError):  # torch says what is wrong with the call
            return original(*args, **kwargs)
        arguments["parameters"] = passed
        if params is None:  # not tensors: torch says so, given the items the script passed
            return original(*bound.args, **bound.kwargs)
        capture = self._capture
        with _no_torch_function():
            frame = self._attribution.user_frame(sys._getframe(1))
            index = self._namer.index(frame)
            names = [index.name(p) for p in params]
            before = [capture.summarize(p.grad) for p in params]
            grads = [p.grad for p in params if p.grad is not None]
            value_clipped = _beyond(grads, limit) if function in _VALUE.values() else False
        self._depth += 1
        try:
            with _no_torch_function():
                result = original(*bound.args, **bound.kwargs)
        finally:
            self._depth -= 1
        with _no_torch_function():
            after = [capture.summarize(p.grad) for p in params]
            total: torch.Tensor | None = None
            norm_type: float | None = None
            if function in _NORM.values():
                total = result
                norm_type = float(arguments.get("norm_type", 2.0))
            elif function in _WITH_NORM.values():
                total = arguments.get("total_norm")
                norm_type = self._norm_types.get(total)
            total_norm = _float(total) if total is not None else None
            coef = _coef(limit, total) if total is not None and grads else None
            if total_norm is None:
                clipped = value_clipped
            else:
                clipped = bool(grads) and coef is not None and not coef >= 1.0 and total_norm != 0.0
            notes = self._notes(frame, function, limit, total_norm, clipped, names, params)
        file, line = self._recorder.at(frame)
        self._recorder.emit(GradsClipped, file, line, function=function, max=limit, norm_type=norm_type,
                            total_norm=total_norm, coef=coef, clipped=clipped,
                            grads={n: Change(b, a) for n, b, a in zip(names, before, after)}, notes=notes)
        return result

    # ------------------------------------------------------------------ notes

    def _notes(self, frame: types.FrameType | None, function: str, limit: float, total_norm: float | None,
               clipped: bool, names: list[str], params: list[torch.Tensor]) -> tuple[str, ...]:
        notes: list[str] = []
        if total_norm is not None and not math.isfinite(total_norm):
            notes.append(_nonfinite_note(function, total_norm, names, params))
        site_key = (*self._recorder.at(frame), function)
        site = self._sites.get(site_key)
        if site is None:
            site = self._sites[site_key] = _Site()
        site.recent.append(clipped)
        if not site.said and len(site.recent) == BUSY_WINDOW:
            count = sum(site.recent)
            if count > BUSY_SHARE * BUSY_WINDOW:
                site.said = True
                notes.append(_busy_note(function, limit, count, BUSY_WINDOW))
        return tuple(notes)


def _materialize(arg: Any) -> tuple[list[torch.Tensor] | None, Any]:
    """The tensors ``arg`` holds (None if not all are), and what to hand torch instead of
    ``arg``: itself, unless reading it used it up (a generator gives a new generator of
    the same items). Raises TypeError, before using anything up, if ``arg`` is not iterable."""
    if isinstance(arg, torch.Tensor):
        return [arg], arg
    if isinstance(arg, (list, tuple)):
        items = list(arg)
        passed: Any = arg
    else:
        one_shot = isinstance(arg, Iterator)
        iter(arg)  # not iterable: TypeError now, with nothing used up
        items = list(arg)
        if isinstance(arg, types.GeneratorType):
            passed = (p for p in items)
        else:
            passed = iter(items) if one_shot else arg
    unique: dict[int, torch.Tensor] = {}
    for p in items:
        if not isinstance(p, torch.Tensor):
            return None, passed
        unique.setdefault(id(p), p)
    return list(unique.values()), passed


def _beyond(grads: list[torch.Tensor], clip_value: float) -> bool:
    """Whether ``clamp_(-clip_value, clip_value)`` will change a gradient (before it runs)."""
    low, high = -clip_value, clip_value
    for g in grads:
        if low > high:  # torch's clamp then sets every element to ``high``
            if bool(torch.ne(g, high).any()):
                return True
        elif bool(torch.logical_or(g < low, g > high).any()):
            return True
    return False


def _float(t: Any) -> float | None:
    try:
        return float(t)
    except (TypeError, ValueError, RuntimeError):
        return None


def _coef(max_norm: float, total: Any) -> float | None:
    """What ``_clip_grads_with_norm_`` multiplied the gradients by, computed as torch does:
    ``clamp(max_norm / (total_norm + 1e-6), max=1.0)`` in the total norm's dtype."""
    try:
        return float(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    except (TypeError, RuntimeError):
        return None


def _nonfinite_note(function: str, total_norm: float, names: list[str], params: list[torch.Tensor]) -> str:
    bad = [f"{n}.grad" for n, p in zip(names, params) if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    where = f" ({', '.join(bad[:3])}{', …' if len(bad) > 3 else ''} not finite)" if bad else ""
    if math.isnan(total_norm):
        what = ("the total gradient norm is NaN" + where + f", so {function} multiplied every .grad by NaN: "
                "all of them are NaN now")
    else:
        what = ("the total gradient norm is inf" + where + f", so {function} multiplied every .grad by 0, "
                "which leaves NaN wherever a gradient was inf")
    return (f"{what}. The next step() will write NaN into the weights unless it is skipped (GradScaler.step "
            "skips it after inf/NaN): find the operation the inf/NaN came from, or pass "
            "error_if_nonfinite=True to stop here.")


def _busy_note(function: str, limit: float, clipped: int, calls: int) -> str:
    bound = format_number(limit)
    if function in _VALUE.values():
        effect = f"every gradient element beyond ±{bound} is cut, which also turns the update's direction"
    else:
        effect = (f"every update then has gradient norm {bound} whatever the gradient's size, "
                  "much like a smaller learning rate")
    return (f"clipping was active on {clipped} of the last {calls} {function} calls at this line, so the threshold "
            f"may be too low: {effect}.")
