"""Hooks the script registers on tensors and modules, recorded each time one runs in a backward pass.

A hook can change a gradient (``return g / 2``, ``g.clamp_(-1, 1)`` in place, a module
hook returning new input gradients), and then the gradients of the pass are no longer
the chain rule's alone. So the registrations (``Tensor.register_hook``,
``Tensor.register_post_accumulate_grad_hook``, ``Module.register_full_backward_hook``,
``Module.register_full_backward_pre_hook`` and the global
``register_module_full_backward_hook`` / ``_pre_hook``) are wrapped for the run: the
script's function is registered inside a recorder that, when autograd calls it in the
script's thread, copies the gradients it is given, calls the function once with the very
arguments torch gave, and emits a ``hook`` event with the gradients it received and
those it left (compared by value, so that an in-place change counts and a ``return
g.clone()`` does not), and a note the first time a hook changed one. What torch returned
from the registration (the handle) is returned as is, so ``handle.remove()`` removes the
recorder with the function.

The order torch runs things in, measured on torch 2.13 (tests/test_grad_hooks.py checks
it): for a node, the tensor hooks of the tensor it computed (``register_hook``) run
first, then the node's pre-hooks, the node, and its post-hooks, of which the one
``BackwardTrace`` adds comes last. So ``NodeRun.grad_in`` is the gradient after the
script's tensor hook, what the node really received, while the node before it recorded
in ``grad_out`` what it sent, before the hook: the ``hook`` event between them tells the
difference. A leaf's hooks run before its ``AccumulateGrad``; its post-accumulate hooks
after the gradient is in ``.grad``. ``autograd.grad`` runs the tensor hooks of its
inputs too (its result is the hook's), but no ``AccumulateGrad`` and so no
post-accumulate hook.

What this must not do: change what a hook returns or how often it runs, record a hook
running in another thread or in a registration made by library code, or keep a tensor
alive (the target is held weakly).
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import torch
from torch.nn.modules import module as _module_mod

from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture
from gradtui.engine.frame_scan import frame_items
from gradtui.engine.graph import GraphRecorder
from gradtui.engine.naming import Namer
from gradtui.engine.patches import Patches
from gradtui.engine.recorder import Recorder
from gradtui.model.events import GradHooked
from gradtui.model.formatting import format_number
from gradtui.model.tensors import TensorSummary

_no_torch_function = torch._C.DisableTorchFunction
#: Set on the recorders, so that a registration seen twice (the function mode passes the
#: script's ``t.register_hook`` on once more) wraps the script's function only once.
_RECORDER = "__gradtui_hook_recorder__"
#: Errors reading a gradient may raise (a batched tensor inside ``vmap``): the hook still
#: runs, unrecorded.
_UNREADABLE = (RuntimeError, TypeError, ValueError, NotImplementedError)
_current_node = getattr(torch._C, "_current_autograd_node", lambda: None)

#: (class, method, where) for the registrations on tensors and modules.
_METHODS = (
    (torch.Tensor, "register_hook", "tensor"),
    (torch.Tensor, "register_post_accumulate_grad_hook", "post_accumulate"),
    (torch.nn.Module, "register_full_backward_hook", "module"),
    (torch.nn.Module, "register_full_backward_pre_hook", "module_pre"),
)
#: The global registrations: a hook for every module.
_GLOBALS = (("register_module_full_backward_hook", "module"),
            ("register_module_full_backward_pre_hook", "module_pre"))


class GradHooks:
    """Wraps the hook registrations for one run (a ``PatchSet``) and records the hooks as they run."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer,
                 graph: GraphRecorder) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._graph = graph
        #: (hook, target, where) of the hooks a note has been given for.
        self._noted: set[tuple[str, str, str]] = set()

    def install(self, patches: Patches) -> None:
        for cls, name, where in _METHODS:
            patches.set_class_attr(cls, name, self._registration(getattr(cls, name), where, method=True))
        for name, where in _GLOBALS:
            original = getattr(_module_mod, name, None)
            if original is not None:
                patches.set_module_attr(_module_mod, name, self._registration(original, where, method=False))

    # ------------------------------------------------------------------ registering

    def _registration(self, original: Callable[..., Any], where: str, *, method: bool) -> Callable[..., Any]:
        hooks = self

        def wrap_if_script(target: Any, hook: Any, caller: FrameType) -> Any:
            # Only the script's own registrations, made from its code: library code's pass untouched.
            attribution = hooks._attribution
            if (not callable(hook) or getattr(hook, _RECORDER, False) or not attribution.in_script_thread()
                    or not attribution.filter.is_user(caller.f_code.co_filename)):
                return hook
            return hooks._recorder_for(target, hook, where, caller)

        if method:
            @functools.wraps(original)
            def register(target: Any, hook: Any, *args: Any, **kwargs: Any) -> Any:
                return original(target, wrap_if_script(target, hook, sys._getframe(1)), *args, **kwargs)

            return register

        @functools.wraps(original)
        def register_global(hook: Any, *args: Any, **kwargs: Any) -> Any:
            return original(wrap_if_script(None, hook, sys._getframe(1)), *args, **kwargs)

        return register_global

    def _recorder_for(self, target: Any, hook: Callable[..., Any], where: str, caller: FrameType) -> Callable[..., Any]:
        """The function registered in place of ``hook``: calls it, and records the call in the script's thread."""
        target_of = self._target_namer(target, where, caller)
        hooks, name = self, hook_name(hook)

        @functools.wraps(hook)
        def recorder(*args: Any, **kwargs: Any) -> Any:
            if not hooks._attribution.in_script_thread():
                return hook(*args, **kwargs)
            seen = hooks._before(where, args)
            out = hook(*args, **kwargs)
            if seen is not None:
                hooks._after(name, target_of(args), where, args, out, seen)
            return out

        setattr(recorder, _RECORDER, True)
        return recorder

    def _target_namer(self, target: Any, where: str, caller: FrameType) -> Callable[[Sequence[Any]], str]:
        """How the hook's target is called when it runs: a tensor by its name, a module by its path."""
        namer = self._namer
        if isinstance(target, torch.Tensor):
            with _no_torch_function():
                registered = namer.index(self._attribution.user_frame(caller)).name(target)
            ref = weakref.ref(target)

            def tensor_name(_: Sequence[Any]) -> str:
                # A leaf's name may have improved since (``p`` -> ``net.0.weight``); an
                # activation is called what it was called where the hook was registered.
                live = ref()
                booked = namer.booked_name(live) if live is not None and live.grad_fn is None else None
                return booked or registered

            return tensor_name
        names: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

        def module_name(args: Sequence[Any]) -> str:
            module = args[0]  # the module the hook runs for (any module, for a global hook)
            known = names.get(module)
            if known is None:
                frame = self._attribution.user_frame(sys._getframe(1))
                with _no_torch_function():
                    known = names[module] = module_path(namer, module, frame)
            return known

        return module_name

    # ------------------------------------------------------------------ running

    def _before(self, where: str, args: Sequence[Any]) -> _Seen | None:
        """What the hook is about to receive: summaries, and copies to compare with afterwards."""
        try:
            with _no_torch_function(), torch.no_grad():
                grads = gradients(where, args)
                copies = tuple(g.detach().clone() if isinstance(g, torch.Tensor) else None for g in grads)
                summaries = tuple(self._capture.summarize(g) for g in grads)
                node = self._graph.id_of(_current_node())
        except _UNREADABLE:
            return None
        return _Seen(copies, summaries, node)

    def _after(self, name: str, target: str, where: str, args: Sequence[Any], out: Any, seen: _Seen) -> None:
        try:
            with _no_torch_function(), torch.no_grad():
                left = gradients(where, args) if out is None or where == "post_accumulate" else _as_tuple(out)
                after = tuple(self._capture.summarize(g) for g in left)
                changed = len(left) != len(seen.copies) or not all(map(same_values, seen.copies, left))
                notes = self._note(name, target, where, seen.copies, left) if changed else ()
        except _UNREADABLE:
            return
        file, line = self._recorder.at(self._attribution.user_frame(sys._getframe(1)))
        self._recorder.emit(GradHooked, file, line, hook=name, target=target, where=where, before=seen.summaries,
                            after=after, changed=changed, node=seen.node, notes=notes)

    def _note(self, name: str, target: str, where: str, before: Sequence[Any], after: Sequence[Any]) -> tuple[str, ...]:
        """Said the first time each hook changes a gradient (the status line says it every time)."""
        key = (name, target, where)
        if key in self._noted:
            return ()
        self._noted.add(key)
        norms = f"norm {_norm(before)} → {_norm(after)}"
        if where == "post_accumulate":
            return (f"hook {name} on {target} changed {target}.grad after backward() had written it ({norms}): "
                    f".grad holds the hook's value, not the chain rule's alone.",)
        what = {"tensor": "the gradient of", "module": "the gradients of the inputs of",
                "module_pre": "the gradients of the outputs of"}[where]
        return (f"hook {name} changed {what} {target} ({norms}): from here the gradients of this pass, node by "
                f"node and in .grad, carry the hook's change, not the chain rule's alone.",)


class _Seen:
    """What a hook received, kept from before the call until after it."""

    __slots__ = ("copies", "summaries", "node")

    def __init__(self, copies: tuple[torch.Tensor | None, ...], summaries: tuple[TensorSummary | None, ...],
                 node: int | None) -> None:
        self.copies = copies
        self.summaries = summaries
        self.node = node


def hook_name(hook: Any) -> str:
    """``scale_grad``, ``Clipper.__call__``'s ``Clipper``, ``<lambda>``: the name the script gave it."""
    name = getattr(hook, "__qualname__", None) or getattr(hook, "__name__", None)
    if not isinstance(name, str):
        name = type(hook).__qualname__
    return str(name).rsplit("<locals>.", 1)[-1]  # ``main.<locals>.scale`` is ``scale``


def gradients(where: str, args: Sequence[Any]) -> tuple[Any, ...]:
    """The gradients a hook receives: its argument, the leaf's ``.grad``, or a module's tuple."""
    if where == "tensor":
        return (args[0],)
    if where == "post_accumulate":
        return (args[0].grad,)
    # module: (module, grad_input, grad_output), it may replace grad_input;
    # module_pre: (module, grad_output), it may replace grad_output.
    return tuple(args[1])


def same_values(a: Any, b: Any) -> bool:
    """Equal gradients: both None, or the same shape, dtype and values (NaN equal to NaN)."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return a is None and b is None
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(torch.equal(a, b)) or bool(torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True))


def module_path(namer: Namer, module: Any, frame: FrameType | None) -> str:
    """``net.0`` for a part of the script's model; the script's variable; else the class name."""
    for f in reversed(namer.user_frames(frame)):  # outermost first: where the model is the script's variable
        modules = [(var, value) for var, value in frame_items(f) if isinstance(value, torch.nn.Module)]
        for var, root in modules:
            for path, sub in root.named_modules():
                if sub is module and path:
                    return f"{var}.{path}"
        for var, root in modules:
            if root is module:
                return var
    return type(module).__name__


def _as_tuple(out: Any) -> tuple[Any, ...]:
    return (out,) if isinstance(out, torch.Tensor) else tuple(out)


def _norm(tensors: Sequence[Any]) -> str:
    parts = [t for t in tensors if isinstance(t, torch.Tensor)]
    if not parts:
        return "None"
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.detach().double()) for t in parts]))
    return format_number(float(total))
