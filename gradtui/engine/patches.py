"""The places torch offers no hook, patched for the duration of one run and put back after.

* ``optimizer.step()``: torch has global pre/post hooks; they are registered here.
* ``zero_grad()``: no hook exists. ``Optimizer.zero_grad`` and ``Module.zero_grad`` are
  wrapped, as is every subclass that overrides it, including classes the script
  defines while it runs (through ``__init_subclass__``).
* ``Function.apply``: torch's function mode does not see a user-defined autograd
  Function being applied, only the operations inside its ``forward``.

Every patch checks that it is called from the script's thread and does nothing
otherwise. ``Patches.remove()`` restores everything in reverse order. The patches only
route a call to the collaborator that records it (``OptimizerHooks``, ``OpEvents``,
``ScriptInput``, the notes said once); those hand their events to the recorder.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch.optim.optimizer import (
    Optimizer,
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from gradtui.engine.attribution import Attribution
from gradtui.engine.op_events import OpEvents
from gradtui.engine.optimizer_hooks import OptimizerHooks
from gradtui.engine.script_input import ScriptInput
from gradtui.engine.untraced import untraced

_WRAPPED = "__gradtui_wrapped__"


COMPILE_NOTE = (
    "gradtui: functions compiled with torch.compile run as one compiled graph, so the "
    "operations inside them are not recorded one by one; backward, zero_grad and step "
    "around them still are.\n"
)


class PatchSet(Protocol):
    """More wrappers, kept in the module of what they record (clipping, schedulers, hooks…).

    ``install`` wraps through ``Patches.set_class_attr`` / ``set_module_attr``, so that
    ``Patches.remove`` puts everything back in one place.
    """

    def install(self, patches: Patches) -> None: ...


class Patches:
    """Installs the step hooks and the zero_grad / Function.apply wrappers for one run."""

    def __init__(self, optimizers: OptimizerHooks, attribution: Attribution, ops: OpEvents,
                 note_once: Callable[[str, str], None], script_input: ScriptInput,
                 more: Sequence[PatchSet] = ()) -> None:
        self._optimizers = optimizers
        self._attribution = attribution
        self._ops = ops
        self._note_once = note_once
        self._input = script_input
        self._more = tuple(more)
        self._undo: list[Callable[[], None]] = []

    def install(self) -> None:
        hooks = self._optimizers
        before, after = untraced(hooks.before_step), untraced(hooks.after_step)
        pre = register_optimizer_step_pre_hook(lambda opt, args, kwargs: before(opt, args, kwargs))
        post = register_optimizer_step_post_hook(lambda opt, args, kwargs: after(opt))
        self._undo += [pre.remove, post.remove]
        for root in (Optimizer, torch.nn.Module):
            for cls in [root, *all_subclasses(root)]:
                self._wrap_zero_grad(cls)
            self.watch_new_subclasses(root, self._wrap_zero_grad)
        self._wrap_function_apply()
        if self._input.from_driver:
            self._wrap_input()
        self._wrap_compile()
        for patch_set in self._more:
            patch_set.install(self)

    def _wrap_compile(self) -> None:
        """Say plainly, once, what gradtui cannot show inside ``torch.compile``."""
        note_once = self._note_once
        original = torch.compile

        @functools.wraps(original)
        def compile_(*args: Any, **kwargs: Any) -> Any:
            note_once("compile", COMPILE_NOTE)
            return original(*args, **kwargs)

        self.set_module_attr(torch, "compile", compile_)

    def _wrap_input(self) -> None:
        """``input()`` in the script's thread asks the driver (the app owns the terminal)."""
        script_input = self._input
        original = builtins.input

        def ask(prompt: object = "") -> str:
            return script_input.ask(original, prompt)

        self.set_module_attr(builtins, "input", ask)

    def set_module_attr(self, module: Any, name: str, value: Any) -> None:
        """``module.name = value`` until ``remove()``."""
        old = getattr(module, name)
        setattr(module, name, value)
        self._undo.append(lambda: setattr(module, name, old))

    def on_remove(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` at ``remove()``, in reverse order of what was installed."""
        self._undo.append(undo)

    def remove(self) -> None:
        while self._undo:
            self._undo.pop()()

    def set_class_attr(self, cls: type, name: str, value: Any) -> None:
        """``cls.name = value`` until ``remove()`` (which deletes it again where ``cls`` only inherited it)."""
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
        self._attribution.note_quiet_code(original)
        hooks = self._optimizers

        @functools.wraps(original)
        def zero_grad(obj: Any, *args: Any, **kwargs: Any) -> Any:
            return hooks.run_zero_grad(original, obj, args, kwargs)

        setattr(zero_grad, _WRAPPED, True)
        self.set_class_attr(cls, "zero_grad", zero_grad)

    def watch_new_subclasses(self, root: type, on_new: Callable[[type], None]) -> None:
        """``on_new(cls)`` for every subclass of ``root`` defined from now on (the script's own
        optimizers, modules, schedulers), until ``remove()``; ``root``'s own hook still runs."""
        previous = root.__dict__.get("__init_subclass__")

        def init_subclass(cls: type, /, **kwargs: Any) -> None:
            if previous is not None:
                previous.__get__(None, cls)(**kwargs)
            else:
                super(root, cls).__init_subclass__(**kwargs)  # type: ignore[arg-type]
            on_new(cls)

        self.set_class_attr(root, "__init_subclass__", classmethod(init_subclass))

    def _wrap_function_apply(self) -> None:
        Function = torch.autograd.Function
        raw = Function.__dict__.get("apply")
        if not isinstance(raw, classmethod):  # pragma: no cover - torch layout changed
            return
        original = raw.__func__
        ops = self._ops

        def apply(cls: type, *args: Any, **kwargs: Any) -> Any:
            return ops.run_function_apply(original, cls, args, kwargs)

        self.set_class_attr(Function, "apply", classmethod(apply))


def all_subclasses(cls: type) -> list[type]:
    """Every class below ``cls``, at any depth (those defined so far)."""
    out: list[type] = []
    todo: list[type] = list(cls.__subclasses__())
    while todo:
        sub = todo.pop()
        out.append(sub)
        todo.extend(sub.__subclasses__())
    return out
