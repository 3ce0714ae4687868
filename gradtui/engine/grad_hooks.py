"""Hooks the script registers on tensors and modules, recorded each time one runs in backward.

A hook can change a gradient (``return g / 2``, or ``g.mul_(0.5)`` in place), and then the
gradients of the pass are no longer the chain rule alone. So ``Tensor.register_hook``,
``Tensor.register_post_accumulate_grad_hook``, ``Module.register_full_backward_hook`` and
``Module.register_full_backward_pre_hook`` are wrapped for the run: the script's function
is registered inside a wrapper that, when it runs in the script's thread, copies the
gradients it receives, calls the function once with them, and emits a ``hook`` event
with the gradients it received and those it left (compared by value, so an in-place
change counts), and a note when it changed one. The handle torch returns is returned
as is, so ``handle.remove()`` removes the wrapper and the recording with it.

Order, measured on torch 2.13: for a node, torch runs the tensor hooks of its input
(``register_hook``) first, then node pre-hooks, the node, and its post-hooks; the
post-hook that ``BackwardTrace`` installs therefore sees, and ``NodeRun.grad_in``
records, the gradient the tensor hook left, which is what the node really received.

What this must not do: change what the hook returns or how often it runs, or keep a
tensor alive (the target is held weakly).
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import torch

from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture
from gradtui.engine.graph import GraphRecorder
from gradtui.engine.naming import Namer
from gradtui.engine.patches import Patches
from gradtui.engine.recorder import Recorder
from gradtui.model.events import GradHooked
from gradtui.model.formatting import format_number

_no_torch_function = torch._C.DisableTorchFunction
_WRAPPER = "__gradtui_hook__"


class GradHooks:
    """Wraps the hook registrations for one run (a ``PatchSet``)."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer,
                 graph: GraphRecorder) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._graph = graph

    def install(self, patches: Patches) -> None:
        tensor, module = torch.Tensor, torch.nn.Module
        for cls, name, where in ((tensor, "register_hook", "tensor"),
                                 (tensor, "register_post_accumulate_grad_hook", "post_accumulate"),
                                 (module, "register_full_backward_hook", "module"),
                                 (module, "register_full_backward_pre_hook", "module_pre")):
            patches.set_class_attr(cls, name, self._registration(getattr(cls, name), where))

    def _registration(self, original: Callable[..., Any], where: str) -> Callable[..., Any]:
        hooks = self

        @functools.wraps(original)
        def register(target: Any, hook: Any, *args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1)
            attribution = hooks._attribution
            # Only the script's own registrations: torch's (already wrapped, or made by library
            # code on the script's behalf) pass through untouched.
            if (getattr(hook, _WRAPPER, False) or not attribution.in_script_thread()
                    or attribution.user_frame(caller) is not caller):
                return original(target, hook, *args, **kwargs)
            return original(target, hooks._wrap(target, hook, where, caller), *args, **kwargs)

        return register

    def _wrap(self, target: Any, hook: Callable[..., Any], where: str, caller: FrameType) -> Callable[..., Any]:
        frame = self._attribution.user_frame(caller)
        with _no_torch_function():
            if isinstance(target, torch.Tensor):
                name = self._namer.index(frame).name(target)
                node = target.grad_fn if target.grad_fn is not None else _accumulator(target)
            else:
                name, node = _module_name(self._namer, target, frame), None
        ref = weakref.ref(node) if node is not None and _weakrefable(node) else None
        held = node if ref is None else None  # AccumulateGrad nodes cannot be weakly referenced
        hooks = self

        @functools.wraps(hook)
        def wrapper(*args: Any) -> Any:
            if not hooks._attribution.in_script_thread():
                return hook(*args)
            grads = _gradients(where, args)
            with _no_torch_function(), torch.no_grad():
                copies = [g.clone() if isinstance(g, torch.Tensor) else None for g in grads]
                before = tuple(hooks._capture.summarize(c) for c in copies)
            out = hook(*args)
            left = _gradients(where, args) if out is None else _as_tuple(out)
            with _no_torch_function(), torch.no_grad():
                after = tuple(hooks._capture.summarize(g) for g in left)
                changed = any(not _same(c, g) for c, g in zip(copies, left)) or len(copies) != len(left)
                live = ref() if ref is not None else held
                node_id = hooks._graph.id_of(live) if live is not None else None
                notes = _change_note(getattr(hook, "__name__", "hook"), name, copies, left) if changed else ()
            file, line = hooks._recorder.at(hooks._attribution.user_frame(sys._getframe(1)))
            hooks._recorder.emit(GradHooked, file, line, hook=getattr(hook, "__name__", type(hook).__name__),
                                 target=name, where=where, before=before, after=after, changed=changed,
                                 node=node_id, notes=notes)
            return out

        setattr(wrapper, _WRAPPER, True)
        return wrapper


def _gradients(where: str, args: Sequence[Any]) -> tuple[Any, ...]:
    """The gradients a hook receives: its argument, the leaf's ``.grad``, or the module's tuple."""
    if where == "tensor":
        return (args[0],)
    if where == "post_accumulate":
        return (args[0].grad,)
    if where == "module":
        return tuple(args[1])  # (module, grad_input, grad_output): it may replace grad_input
    return tuple(args[1])  # module_pre: (module, grad_output)


def _as_tuple(out: Any) -> tuple[Any, ...]:
    return (out,) if isinstance(out, torch.Tensor) else tuple(out)


def _same(a: Any, b: Any) -> bool:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return a is None and b is None
    return a.shape == b.shape and bool(torch.equal(a, b))


def _change_note(hook: str, target: str, before: list[Any], after: Sequence[Any]) -> tuple[str, ...]:
    def norm(ts: Sequence[Any]) -> str:
        parts = [t for t in ts if isinstance(t, torch.Tensor)]
        if not parts:
            return "None"
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in parts]))
        return format_number(float(total))

    return (f"hook {hook} on {target} changed its gradient: norm {norm(before)} → {norm(after)}, "
            "so the flow here is not the chain rule alone",)


def _accumulator(leaf: torch.Tensor) -> Any:
    """A leaf's ``AccumulateGrad`` node, the one a backward writes its ``.grad`` through."""
    if not leaf.requires_grad:
        return None
    with torch.enable_grad():
        view = leaf.view_as(leaf).grad_fn
    return view.next_functions[0][0] if view is not None else None


def _weakrefable(node: Any) -> bool:
    try:
        weakref.ref(node)
    except TypeError:
        return False
    return True


def _module_name(namer: Namer, module: Any, frame: FrameType | None) -> str:
    """``net`` for the script's variable; ``net.0`` for a part of it, from its parameters' names."""
    name = namer.owner_name(module, frame)
    if name != type(module).__name__:
        return name
    for p_name, p in module.named_parameters(recurse=False):
        booked = namer.booked_name(p)
        if booked is not None and booked.endswith("." + p_name):
            return booked[: -len(p_name) - 1]
    return name
