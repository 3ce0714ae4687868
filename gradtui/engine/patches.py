"""The places torch offers no hook, patched for the duration of one run and put back after.

* ``optimizer.step()``: torch has global pre/post hooks; they are registered here.
* ``zero_grad()``: no hook exists. ``Optimizer.zero_grad`` and ``Module.zero_grad`` are
  wrapped, as is every subclass that overrides it, including classes the script
  defines while it runs (through ``__init_subclass__``).
* ``Function.apply``: torch's function mode does not see a user-defined autograd
  Function being applied, only the operations inside its ``forward``.

Every patch checks that it is called from the script's thread and does nothing
otherwise. ``Patches.remove()`` restores everything in reverse order.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch.optim.optimizer import (
    Optimizer,
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

if TYPE_CHECKING:
    from gradtui.engine.session import Session

_WRAPPED = "__gradtui_wrapped__"


COMPILE_NOTE = (
    "gradtui: functions compiled with torch.compile run as one compiled graph, so the "
    "operations inside them are not recorded one by one; backward, zero_grad and step "
    "around them still are.\n"
)


class Patches:
    """Installs the step hooks and the zero_grad / Function.apply wrappers for a session."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._undo: list[Callable[[], None]] = []

    def install(self) -> None:
        s = self._session
        pre = register_optimizer_step_pre_hook(lambda opt, args, kwargs: s.before_step(opt, args, kwargs))
        post = register_optimizer_step_post_hook(lambda opt, args, kwargs: s.after_step(opt))
        self._undo += [pre.remove, post.remove]
        for root in (Optimizer, torch.nn.Module):
            for cls in [root, *_all_subclasses(root)]:
                self._wrap_zero_grad(cls)
            self._watch_new_subclasses(root)
        self._wrap_function_apply()
        self._wrap_grad_scaler()
        if s.input_handler is not None:
            self._wrap_input()
        self._wrap_compile()

    def _wrap_compile(self) -> None:
        """Say plainly, once, what gradtui cannot show inside ``torch.compile``."""
        session = self._session
        original = torch.compile

        @functools.wraps(original)
        def compile_(*args: Any, **kwargs: Any) -> Any:
            session.note_once("compile", COMPILE_NOTE)
            return original(*args, **kwargs)

        self._set_module(torch, "compile", compile_)

    def _wrap_input(self) -> None:
        """``input()`` in the script's thread asks the driver (the app owns the terminal)."""
        session = self._session
        original = builtins.input

        def ask(prompt: object = "") -> str:
            return session.run_input(original, prompt)

        self._set_module(builtins, "input", ask)

    def _set_module(self, module: Any, name: str, value: Any) -> None:
        old = getattr(module, name)
        setattr(module, name, value)
        self._undo.append(lambda: setattr(module, name, old))

    def remove(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _set(self, cls: type, name: str, value: Any) -> None:
        had = name in cls.__dict__
        old = cls.__dict__.get(name)
        setattr(cls, name, value)

        def undo() -> None:
            if had:
                setattr(cls, name, old)
            else:
                delattr(cls, name)

        self._undo.append(undo)

    def _wrap_zero_grad(self, cls: type) -> None:
        original = cls.__dict__.get("zero_grad")
        if original is None or getattr(original, _WRAPPED, False):
            return
        session = self._session
        session.note_quiet_code(original)

        @functools.wraps(original)
        def zero_grad(obj: Any, *args: Any, **kwargs: Any) -> Any:
            return session.run_zero_grad(original, obj, args, kwargs)

        setattr(zero_grad, _WRAPPED, True)
        self._set(cls, "zero_grad", zero_grad)

    def _watch_new_subclasses(self, root: type) -> None:
        patches = self
        previous = root.__dict__.get("__init_subclass__")

        def init_subclass(cls: type, **kwargs: Any) -> None:
            if previous is not None:
                previous.__get__(None, cls)(**kwargs)
            else:
                super(root, cls).__init_subclass__(**kwargs)  # type: ignore[arg-type,misc]
            patches._wrap_zero_grad(cls)

        self._set(root, "__init_subclass__", classmethod(init_subclass))

    def _wrap_function_apply(self) -> None:
        Function = torch.autograd.Function
        raw = Function.__dict__.get("apply")
        if not isinstance(raw, classmethod):  # pragma: no cover - torch layout changed
            return
        original = raw.__func__
        session = self._session

        def apply(cls: type, *args: Any, **kwargs: Any) -> Any:
            return session.run_function_apply(original, cls, args, kwargs)

        self._set(Function, "apply", classmethod(apply))


    def _wrap_grad_scaler(self) -> None:
        """Remember what ``GradScaler.scale`` multiplied each loss by (``engine.loss_scale``)."""
        amp = getattr(torch, "amp", None)
        scaler_cls = getattr(amp, "GradScaler", None)
        original = getattr(scaler_cls, "scale", None) if scaler_cls is not None else None
        if original is None:  # pragma: no cover - torch without torch.amp.GradScaler
            return
        session = self._session

        @functools.wraps(original)
        def scale(scaler: Any, outputs: Any) -> Any:
            scaled = original(scaler, outputs)
            session.loss_scales.remember(scaled, scaler)  # harmless from any thread: a weak table
            return scaled

        self._set(scaler_cls, "scale", scale)  # type: ignore[arg-type]


def _all_subclasses(cls: type) -> list[type]:
    out: list[type] = []
    todo: list[type] = list(cls.__subclasses__())
    while todo:
        sub = todo.pop()
        out.append(sub)
        todo.extend(sub.__subclasses__())
    return out
