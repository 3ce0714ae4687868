"""Parameters changed by hand: ``a -= lr * a.grad``, ``p.sub_(…)``, ``p.data -= …``.

The first tutorials update their parameters with their own code under ``torch.no_grad()``;
no optimizer hook sees that, so without this module the Parameters panel never learns of
it. The function mode already sees every operation, so the check lives there, and it must
cost nothing for the operations that are not updates: whether an operation writes in
place is decided once per torch function (``is_in_place``), and only then is its target
looked at (a leaf that requires grad, or the ``.data`` of one).

Writes through ``.data`` need two extra steps: ``p.data`` returns a new tensor that shares
``p``'s storage but not its requires-grad flag, so each ``.data`` of a parameter is
remembered (weakly) to map the write back to ``p``; and such writes do not bump ``p``'s
``_version``, so ``p``'s value after them is captured afresh, not from the copy-on-write
cache.

What must not happen here: recording the inside of an optimizer's ``step()`` or
``zero_grad()`` (they have their events and run with torch functions disabled), or
changing what the operation computes or returns.
"""

from __future__ import annotations

import dis
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch

from gradtui.engine.capture import TensorCapture
from gradtui.engine.identity import IdentityTable
from gradtui.engine.naming import Namer
from gradtui.engine.op_events import OpEvents
from gradtui.engine.tensors import describe_args
from gradtui.model.events import Change

_no_torch_function = torch._C.DisableTorchFunction

#: In-place by name, but they change no values (or only metadata); an actual write is
#: also confirmed afterwards by the written tensor's ``_version``.
_NOT_WRITES = frozenset({"requires_grad_", "share_memory_", "retain_grad", "rename_", "detach_", "record_stream"})

#: ``BINARY_OP``'s argument -> the operator the script wrote (``-=``); Python 3.11+.
_INPLACE_OPERATORS: dict[int, str] = {
    i: symbol for i, (_, symbol) in enumerate(getattr(dis, "_nb_ops", ())) if symbol.endswith("=")
}
_BINARY_OP = dis.opmap.get("BINARY_OP", -1)
_STORE_SUBSCR = dis.opmap["STORE_SUBSCR"]

#: The getter of ``Tensor.data``, as the function mode receives it.
DATA_GETTER = torch.Tensor.data.__get__  # type: ignore[attr-defined]


def is_in_place(name: str) -> bool:
    """Whether a torch function of this name writes into its first tensor argument."""
    if name in _NOT_WRITES:
        return False
    if name == "__setitem__" or (name.startswith("_foreach_") and name.endswith("_")):
        return True
    if name.startswith("__i") and name.endswith("__"):
        return True  # __isub__ and its kin, should they arrive under that name
    return name.endswith("_") and not name.startswith("_")


def _written(name: str, args: Any, kwargs: Any) -> list[torch.Tensor]:
    """The tensors an in-place call writes: its first argument (a list for ``_foreach_``)."""
    first = args[0] if args else kwargs.get("tensor", kwargs.get("input", kwargs.get("self")))
    if isinstance(first, torch.Tensor):
        return [first]
    if name.startswith("_foreach_") and isinstance(first, list | tuple):
        return [t for t in first if isinstance(t, torch.Tensor)]
    return []


def written_as(frame: FrameType, name: str) -> str:
    """``-=`` when the script's instruction is that operator, ``[]=`` for item assignment, else ``name``."""
    try:
        code = frame.f_code.co_code
        opcode, arg = code[frame.f_lasti], code[frame.f_lasti + 1]
    except IndexError:
        return name
    if opcode == _BINARY_OP:
        return _INPLACE_OPERATORS.get(arg, name)
    if opcode == _STORE_SUBSCR and name == "__setitem__":
        return "[]="
    return name


class ManualUpdates:
    """Finds the script's in-place writes to parameters and records them as ``update`` events."""

    def __init__(self, capture: TensorCapture, namer: Namer, events: OpEvents) -> None:
        self._capture = capture
        self._namer = namer
        self._events = events
        #: ``p.data`` alias -> its parameter, both weak: an alias lives for one statement.
        self._aliases: IdentityTable[weakref.ref[torch.Tensor]] = IdentityTable()

    # ------------------------------------------------------------------ cheap checks

    def saw_data(self, args: Any, out: Any) -> None:
        """``p.data`` was read: remember the alias when ``p`` is a parameter."""
        owner = args[0] if args else None
        if not (isinstance(owner, torch.Tensor) and isinstance(out, torch.Tensor)):
            return
        if owner.requires_grad and owner.is_leaf:
            self._aliases.put(out, weakref.ref(owner))

    def alias_owner(self, t: torch.Tensor) -> torch.Tensor | None:
        """The parameter whose ``.data`` ``t`` is, or None."""
        ref = self._aliases.get(t)
        return ref() if ref is not None else None

    def targets(self, name: str, args: Any, kwargs: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(written tensor, parameter)`` for each parameter an in-place call writes; often none."""
        found = []
        for t in _written(name, args, kwargs):
            if t.requires_grad:
                if t.is_leaf:
                    found.append((t, t))
                continue
            param = self.alias_owner(t)
            if param is not None:
                found.append((t, param))
        return found

    # ------------------------------------------------------------------ the update

    def run(self, func: Callable[..., Any], name: str, args: Any, kwargs: Any, frame: FrameType, direct: bool,
            targets: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
        """Run the in-place call, and record what it did to each parameter it changed.

        ``direct``: the script's frame called the operation itself, so its current
        instruction tells an operator (``-=``) from a method call (``sub_``).
        """
        capture = self._capture
        grad_enabled = torch.is_grad_enabled()
        with _no_torch_function():
            before = [capture.summarize(param) for _, param in targets]
            versions = [written._version for written, _ in targets]
        # A leaf that requires grad, written with grad mode on, makes torch raise here:
        # nothing changed, and the error is the script's.
        out = func(*args, **kwargs)
        with _no_torch_function():
            changed = [(i, w, p) for i, ((w, p), v) in enumerate(zip(targets, versions)) if w._version != v]
        if not changed:  # in place by name only: an ordinary operation
            self._events.record_op(frame, name, args, kwargs, out, grad_enabled)
            return out
        with _no_torch_function():
            index = self._namer.index(frame)
            through_data = any(w is not p for _, w, p in changed)
            params = {}
            for i, w, p in changed:
                # A write through .data leaves p's _version alone: the cached summary is stale.
                after = capture.summarize(p) if w is p else capture.summarize_fresh(p)
                params[index.name(p)] = Change(before[i], after)

            def arg_name(t: torch.Tensor) -> str:
                for w, p in targets:
                    if t is w and w is not p:
                        return f"{index.name(p)}.data"
                return index.name(t)

            described = describe_args(args, kwargs, arg_name)
        op = written_as(frame, name) if direct else name
        self._events.record_update(frame, op, described, grad_enabled, through_data, params)
        return out
