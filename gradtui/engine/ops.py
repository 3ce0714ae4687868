"""Seeing every torch operation the script calls: a ``TorchFunctionMode``.

The mode sees torch functions, tensor methods and operators, but also attribute access
(``.grad`` as ``__get__``), printing and ``no_grad`` bookkeeping; only calls that return
tensors are operations worth an event. It also sees operations made inside torch's
Python code on the script's behalf, so each call is attributed by walking the stack to
the script's own frame (``Attribution.user_op_frame``). ``backward`` is intercepted
here too, because the mode is the one place that sees it called with its arguments
(``gradtui.engine.backward_hook``), as is ``torch.autograd.grad``
(``gradtui.engine.autograd_grad``), and in-place writes to parameters
(``gradtui.engine.updates``) for the same reason. An operation becomes an event in
``OpEvents``, which hands it to the recorder; the mode itself records nothing.

The mode stack is thread-local: the script runner enters it in the script's thread.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from gradtui.engine.silent_writes import WRITERS, written_by
from gradtui.engine.tensors import written_kwargs
from gradtui.engine.updates import DATA_GETTER, ManualUpdates, is_in_place

#: ``(func, args, kwargs, caller)`` -> what the backward returned.
BackwardRunner = Callable[[Callable[..., Any], Any, Any, FrameType], Any]
#: ``(frame, name, args, kwargs, out, grad_enabled)``: records one operation.
OpSink = Callable[[FrameType, str, Any, Any, Any, bool], None]

#: Calls that never become op events: attribute access and conversions to Python values.
_IGNORED = frozenset({
    "__get__", "__set__", "__delete__", "__repr__", "__format__", "__str__", "__hash__",
    "_set_grad_enabled", "__reduce_ex__", "__deepcopy__", "__setstate__", "__getstate__",
    "size", "dim", "numel", "item", "tolist", "__len__", "__bool__", "data_ptr", "stride",
})

_BACKWARDS = (torch.Tensor.backward, torch.autograd.backward)
#: Taken at import, as ``_BACKWARDS`` is: the function torch hands the mode, whatever patches the name later.
_AUTOGRAD_GRAD = torch.autograd.grad
#: True while torch.compile traces a function: the mode must then stay out of the way
#: (its frame inspection cannot be compiled), and the compiled graph runs as one piece.
_compiling = torch.compiler.is_compiling


# What a torch function is to the recorder, decided once per function; the common case
# (an ordinary operation) is the one falsy kind, so it costs a single test.
_PLAIN, _SKIP, _IN_PLACE, _DATA, _BACKWARD, _GRAD, _SILENT = 0, 1, 2, 3, 4, 5, 6


def _classify(func: Any, name: str) -> int:
    if name in _IGNORED:
        return _DATA if func == DATA_GETTER else _SKIP
    if func in _BACKWARDS:
        return _BACKWARD
    if func is _AUTOGRAD_GRAD:
        return _GRAD
    if func in WRITERS:
        return _SILENT
    return _IN_PLACE if is_in_place(name) else _PLAIN


def op_name(func: Any) -> str:
    name = getattr(func, "__name__", None)
    if name is None:
        name = type(func).__name__
    return str(name)


class OpRecorder(TorchFunctionMode):
    """Records the script's tensor operations through ``record_op``."""

    def __init__(self, user_op_frame: Callable[[FrameType | None], FrameType | None], record_op: OpSink,
                 updates: ManualUpdates, run_backward: BackwardRunner, run_grad: BackwardRunner | None = None) -> None:
        super().__init__()
        self._user_op_frame = user_op_frame
        self._record_op = record_op
        self._run_backward = run_backward
        self._run_grad = run_grad
        self._kinds: dict[Any, tuple[str, int]] = {}
        self._updates = updates

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if kwargs is None:
            kwargs = {}
        if _compiling():
            return func(*args, **kwargs)
        entry = self._kinds.get(func)
        if entry is None:
            name = op_name(func)
            entry = self._kinds[func] = (name, _classify(func, name))
        name, kind = entry
        if kind:
            if kind == _SKIP:
                return func(*args, **kwargs)
            if kind == _BACKWARD:
                return self._run_backward(func, args, kwargs, sys._getframe(1))
            if kind == _GRAD:
                if self._run_grad is None:
                    return func(*args, **kwargs)
                return self._run_grad(func, args, kwargs, sys._getframe(1))
            if kind == _DATA:  # p.data: a write through it is an update of p
                out = func(*args, **kwargs)
                self._updates.saw_data(args, out)
                return out
            if kind == _SILENT:  # batch norm's running statistics: written, their _version not bumped
                out = self._plain(func, name, args, kwargs)
                written_by(func, args, kwargs)
                return out
            targets = self._updates.targets(name, args, kwargs)  # _IN_PLACE
            if targets:
                caller = sys._getframe(1)
                frame = self._user_op_frame(caller)
                if frame is not None:
                    return self._updates.run(func, name, args, kwargs, frame, frame is caller, targets)
        return self._plain(func, name, args, kwargs)

    def _plain(self, func: Any, name: str, args: Any, kwargs: Any) -> Any:
        """Run an operation, and record it if the script's own code made it."""
        frame = self._user_op_frame(sys._getframe(2))
        if frame is None:
            return func(*args, **kwargs)
        grad_enabled = torch.is_grad_enabled()
        out = func(*args, **kwargs)
        self._record_op(frame, name, args, written_kwargs(func, kwargs), out, grad_enabled)
        return out
