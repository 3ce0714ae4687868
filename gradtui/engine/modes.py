"""``model.train()`` / ``model.eval()`` and the grad modes as ``mode`` events.

Dropout and batch norm behave differently in the two module modes, and under
``torch.no_grad()`` / ``torch.inference_mode()`` no graph is recorded, so a validation
loop reads differently from a training loop only once these switches are visible.

* ``Module.train`` / ``Module.eval`` are wrapped: one event per call the script makes.
  ``train`` calls itself on every child and ``eval`` calls ``train(False)``; those inner
  calls are not the script's and make no event. A subclass that overrides ``train`` and
  calls ``super().train(mode)`` is one call too, placed where the script called it.
* The grad-mode context managers (``no_grad``, ``enable_grad``, ``set_grad_enabled``,
  ``inference_mode``, and their decorator forms, which enter the same methods) are
  wrapped where they change the mode: an event on entering and on leaving (the mode that
  is restored), only when the mode changed, and only for the script's own switches.
  torch uses the same managers inside optimizers, clipping and ``nn.init``; those calls
  come from torch's files and make no event.

Every wrapper calls the original once with the script's arguments and returns its result.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import torch
from torch.autograd import grad_mode

from gradtui.engine.attribution import Attribution
from gradtui.engine.frame_scan import frame_items
from gradtui.engine.naming import Namer
from gradtui.engine.recorder import Recorder
from gradtui.model.events import ModeSet

if TYPE_CHECKING:
    from gradtui.engine.patches import Patches

_is_grad = torch.is_grad_enabled
_is_inference = torch.is_inference_mode_enabled

#: The methods that switch the grad mode. ``set_grad_enabled`` switches in ``__init__``
#: (so that it also works as a plain call) and switches back in ``__call__`` when it is
#: used as a decorator.
_GRAD_METHODS: tuple[tuple[type, tuple[str, ...]], ...] = (
    (grad_mode.no_grad, ("__enter__", "__exit__")),
    (grad_mode.enable_grad, ("__enter__", "__exit__")),
    (grad_mode.set_grad_enabled, ("__init__", "__call__", "__enter__", "__exit__")),
    (grad_mode.inference_mode, ("__enter__", "__exit__")),
)
#: Frames of the context managers' own machinery, between the switch and the script.
_GRAD_MODE_FILE = os.path.join("torch", "autograd", "grad_mode.py")
_CONTEXTLIB_FILE = os.path.join("torch", "utils", "_contextlib.py")


def grad_mode_now() -> str:
    """``inference``, ``grad`` or ``no_grad``: the grad mode of this thread (inference mode turns grad off too)."""
    if _is_inference():
        return "inference"
    return "grad" if _is_grad() else "no_grad"


class ModeEvents:
    """Wraps ``Module.train`` / ``eval`` and the grad-mode switches for one run (a ``PatchSet``)."""

    def __init__(self, recorder: Recorder, attribution: Attribution, namer: Namer) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._is_user = attribution.filter.is_user
        self._namer = namer
        self._module_depth = 0
        self._grad_depth = 0

    def install(self, patches: Patches) -> None:
        module = torch.nn.Module
        for name in ("train", "eval"):
            original = module.__dict__[name]
            patches.set_class_attr(module, name, functools.wraps(original)(self._wrap_module(original)))
        for cls, names in _GRAD_METHODS:
            for name in names:
                original = cls.__dict__.get(name)
                if callable(original):
                    patches.set_class_attr(cls, name, functools.wraps(original)(self._wrap_grad(original)))

    # ------------------------------------------------------------------ train / eval

    def _wrap_module(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def switch(module: Any, *args: Any, **kwargs: Any) -> Any:
            if self._module_depth or not self._attribution.in_script_thread():
                return original(module, *args, **kwargs)
            self._module_depth += 1
            try:
                result = original(module, *args, **kwargs)
            finally:
                self._module_depth -= 1
            frame = self._module_caller(module, sys._getframe(1))
            if frame is not None:
                self._module_switched(module, frame)
            return result

        return switch

    def _module_caller(self, module: Any, frame: FrameType | None) -> FrameType | None:
        """The script's frame that asked for this switch, or None if the script did not.

        A ``train`` / ``eval`` the script's own module class defines calls ``super()``'s:
        the call belongs to the line that called the override; a switch of another module
        made inside an override (a frozen batch norm kept in eval) belongs to nobody.
        """
        if frame is None or not self._is_user(frame.f_code.co_filename):
            return None
        if frame.f_code.co_name in ("train", "eval"):
            owner = frame.f_locals.get("self")
            if isinstance(owner, torch.nn.Module):
                if owner is not module:
                    return None
                frame = frame.f_back
                if frame is None or not self._is_user(frame.f_code.co_filename):
                    return None
        return frame

    def _module_switched(self, module: Any, frame: FrameType) -> None:
        with torch._C.DisableTorchFunction():
            name = self._module_name(module, frame)
        mode = "train" if getattr(module, "training", True) else "eval"
        file, line = self._recorder.at(frame)
        self._recorder.emit(ModeSet, file, line, target=name, cls=type(module).__name__, mode=mode)

    def _module_name(self, module: Any, frame: FrameType) -> str:
        """The script's variable for ``module``, or its path in a module that is one (``net.body``)."""
        name = self._namer.owner_name(module, frame)
        if name != type(module).__name__:
            return name
        for f in self._namer.user_frames(frame):
            for var, value in frame_items(f):
                if isinstance(value, torch.nn.Module) and value is not module:
                    for path, sub in value.named_modules():
                        if sub is module:
                            return f"{var}.{path}"
        return name

    # ------------------------------------------------------------------ grad modes

    def _wrap_grad(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def switch(*args: Any, **kwargs: Any) -> Any:
            if self._grad_depth or not self._attribution.in_script_thread():
                return original(*args, **kwargs)
            before = grad_mode_now()
            self._grad_depth += 1  # no_grad.__enter__ builds a set_grad_enabled: one switch
            try:
                result = original(*args, **kwargs)
            finally:
                self._grad_depth -= 1
            after = grad_mode_now()
            if after != before:
                frame = self._grad_caller(sys._getframe(1))
                if frame is not None:
                    file, line = self._recorder.at(frame)
                    self._recorder.emit(ModeSet, file, line, target="grad", cls="", mode=after)
            return result

        return switch

    def _grad_caller(self, frame: FrameType | None) -> FrameType | None:
        """The script's frame behind a grad-mode switch, through torch's context-manager machinery.

        A decorated function (``@torch.no_grad()``) enters the mode in ``_contextlib``'s
        wrapper: the switch is the script's when the function decorated is, and it
        happens where that function was called.
        """
        is_user = self._is_user
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.endswith(_GRAD_MODE_FILE):
                frame = frame.f_back
                continue
            if filename.endswith(_CONTEXTLIB_FILE):
                code = getattr(frame.f_locals.get("func"), "__code__", None)
                if code is None or not is_user(code.co_filename):
                    return None
                frame = frame.f_back
                continue
            return frame if is_user(filename) else None
        return None
