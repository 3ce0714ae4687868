"""Naming tensors the way the script names them: ``theta``, ``loss``, ``net.0.weight``.

A graph labelled with the user's own variable names is what makes the debugger
readable, and a parameter's history can only be followed if its name never changes.
Two kinds of tensor are named differently:

* **Leaves and module tensors** (parameters, buffers, tensors that require grad and have
  no ``grad_fn``) live long and own a ``.grad``. Each keeps one name for its whole life,
  held in a book; a name is only ever replaced by a better kind of name (``Rank``): a
  module path rooted at one of the script's variables (``model.0.bias``) beats a path
  seen from inside a method (``self.a``), which beats a variable of the outermost frame
  that sees it (``w``, or a leftover loop variable ``param``), which beats a function's
  local alias (``t`` in ``def square(t)``), which beats an expression (``self.w``), which
  beats the fallback (``tensor#3``). No two live tensors in the book share a name.
* **Everything else** (activations, losses, batches) is named for the moment, by the
  innermost variable bound to it, or by the expression that reached it: ``a.grad``,
  ``p.data``, ``self.loss``, and for the root of a backward the receiver the script wrote
  (``scaler.scale(loss)``).

Module paths are cached per module and recomputed when torch reports that a parameter,
buffer or submodule was registered anywhere (its global registration hooks), so a module
seen first in its ``__init__``, before its parameters exist, is named right afterwards.

Callers run with torch functions disabled.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import CodeType, FrameType
from typing import Any

import torch
from torch.nn.modules import module as _module_hooks

from gradtui.engine.expressions import call_receiver, method_owners, self_attributes
from gradtui.engine.frame_scan import FrameScan, frame_items, module_tensors
from gradtui.engine.identity import IdentityTable
from gradtui.engine.module_outputs import ModuleOutputs
from gradtui.engine.name_book import Entry, NameBook, Rank

#: Code flags of frames that are suspended and resumed (generators, coroutines).
_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


class NameIndex:
    """Names for the tensors reachable from some frames at one moment: id -> name."""

    __slots__ = ("_names", "_outer", "_top", "_top_vars", "_taken", "_namer", "_order", "_owners", "_attrs")

    def __init__(self, names: dict[int, str], top: dict[int, str], top_vars: Mapping[str, Any], namer: Namer,
                 owners: tuple[Any, ...], outer: dict[int, str] | None = None) -> None:
        # Innermost variable first: what an activation is called here. ``names`` holds the
        # innermost frame's, ``outer`` its callers' (shared by the ops made in one frame).
        self._names = names
        self._outer: dict[int, str] = outer if outer is not None else {}
        self._top = top  # variables of the outermost frame: what a leaf is called
        self._top_vars = top_vars  # the outermost frame's variables, by name
        self._taken: dict[str, int] = {}
        self._namer = namer
        self._order: dict[int, int] | None = None
        self._owners = owners  # the frames' ``self`` objects other than modules (``method_owners``)
        self._attrs: dict[int, str] | None = None

    def name(self, t: torch.Tensor, hint: str | None = None) -> str:
        """``t``'s name; ``hint`` (the expression that reached it) is used before a fallback."""
        tid = id(t)
        namer = self._namer
        var = self._names.get(tid)
        if var is None:
            var = self._outer.get(tid)
        entry = namer.entry(t)
        if entry is not None or (t.requires_grad and t.grad_fn is None):
            if entry is not None and entry.rank == Rank.VARIABLE and self._top_vars.get(entry.name, t) is not t:
                namer.book.demote(entry)  # the script has bound its name to another object since
            top = self._top.get(tid)
            if top is not None:
                name = namer.book.give(t, top, Rank.VARIABLE)
            elif var is not None:
                name = namer.book.give(t, var, Rank.LOCAL)
            elif entry is not None and entry.rank != Rank.DEMOTED:
                name = entry.name
            else:
                expression = hint or self._expression(t)
                if expression:
                    name = namer.book.give(t, expression, Rank.EXPRESSION)
                else:
                    name = namer.book.give(t, namer.fallback(t), Rank.FALLBACK)
        else:
            name = var or hint or self._expression(t) or namer.fallback(t)
        # Two different tensors in one event never share a name.
        owner = self._taken.setdefault(name, tid)
        if owner != tid:
            n = 2
            while self._taken.setdefault(f"{name}#{n}", tid) != tid:
                n += 1
            name = f"{name}#{n}"
        return name

    def rank(self, t: torch.Tensor) -> int:
        """Position of ``t`` in the frames' order (variables first, then module tensors)."""
        if self._order is None:
            order = {key: i for i, key in enumerate(self._names)}
            for key in self._outer:
                order.setdefault(key, len(order))
            self._order = order
        entry = self._namer.entry(t)
        if entry is None or entry.rank > Rank.SELF_PATH:
            position = self._order.get(id(t))
            if position is not None:
                return position
        # Module tensors in their module's order, whatever loop variable holds one now.
        return len(self._order) + self._namer.book.order_of(t)

    def _expression(self, t: torch.Tensor) -> str | None:
        """``a.grad``, ``p.data`` or ``self.loss``: how the script can reach an unnamed tensor."""
        derived = self._namer.derived_name(t)
        if derived is not None:
            return derived
        if self._attrs is None:
            self._attrs = self_attributes(self._owners)
        return self._attrs.get(id(t))


class Namer:
    """Builds ``NameIndex`` objects from the script's frames; owns the book of lasting names."""

    def __init__(self, is_user_frame: Callable[[FrameType], bool],
                 data_owner: Callable[[torch.Tensor], torch.Tensor | None] = lambda t: None) -> None:
        self._is_user_frame = is_user_frame
        #: The parameter a ``p.data`` alias came from, or None.
        self._data_owner = data_owner
        self._user_code: dict[CodeType, bool] = {}
        #: The names that last: leaves, parameters and buffers.
        self.book = NameBook()
        self._fallbacks: IdentityTable[str] = IdentityTable()
        self._counter = 0
        #: Bumped by torch whenever a parameter, buffer or submodule is registered anywhere.
        self._generation = 0
        # (variable, id(module)) -> (weakref to the module, generation its tensors were booked at)
        self._rooted: dict[tuple[str, int], tuple[weakref.ref[Any], int]] = {}
        #: A ``.grad`` tensor -> the leaf that owns it (weakly).
        self._grads: IdentityTable[weakref.ref[torch.Tensor]] = IdentityTable()
        self._hooks: list[Any] = []
        self._receivers: dict[tuple[CodeType, int], str | None] = {}
        self._scans: dict[int, FrameScan] = {}
        #: The last stack walked: its innermost frame, and the script's frames on it.
        self._walked: tuple[FrameType | None, list[FrameType]] = (None, [])
        #: The callers' part of the last index: their scans, names, top frame's names and
        #: variables, and the registration generation their modules were booked at.
        self._outer: tuple[tuple[FrameScan, ...], dict[int, str], dict[int, str], Mapping[str, Any], int] | None = None
        #: The last index's frame, registration generation, inner scan and the rest of its
        #: arguments: the next op of that frame at an instruction the scan holds at reuses them.
        self._last: tuple[FrameType, int, FrameScan, dict[int, str], Mapping[str, Any], tuple[Any, ...],
                          dict[int, str] | None] | None = None
        #: Which module returned an activation (``net.0 output``), followed while the run lasts.
        self.outputs = ModuleOutputs()

    # ------------------------------------------------------------------ lifetime

    def install(self) -> None:
        """Follow module registrations (torch's global hooks) for as long as the run lasts."""

        def registered(*_: Any) -> None:
            self._generation += 1

        for register in ("register_module_parameter_registration_hook",
                         "register_module_buffer_registration_hook",
                         "register_module_module_registration_hook"):
            hook = getattr(_module_hooks, register, None)
            if hook is not None:
                self._hooks.append(hook(registered))
        self.outputs.install()

    def remove(self) -> None:
        while self._hooks:
            self._hooks.pop().remove()
        self.outputs.remove()
        self.forget_frames()

    # ------------------------------------------------------------------ frames

    def user_frames(self, frame: FrameType | None) -> list[FrameType]:
        # Every op walks the whole stack (a model's forward is a dozen frames of torch's
        # module machinery deep): the answer is remembered per code object, and for the
        # last frame asked about (a frame's callers never change while it runs; it is held
        # until ``forget_frames``, so no other frame can be that object meanwhile).
        # A generator's frame is the exception: each resumption may come from another caller.
        walked = self._walked
        if frame is walked[0] and frame is not None:
            return walked[1]
        start = frame if frame is not None and not frame.f_code.co_flags & _RESUMABLE else None
        frames = []
        known = self._user_code
        while frame is not None:
            code = frame.f_code
            user = known.get(code)
            if user is None:
                user = known[code] = self._is_user_frame(frame)
            if user:
                frames.append(frame)
            frame = frame.f_back
        self._walked = (start, frames)
        return frames

    def index(self, frame: FrameType | None) -> NameIndex:
        """Names visible from ``frame`` and the script frames that called it.

        Consecutive operations in one frame (an LSTM cell's dozen per time step) share
        their callers' part: it is rebuilt only when one of those frames moved on or a
        module registration may have changed the modules' paths. The ops after the first
        of one line of a frame (a frame's callers never move while it runs, and no variable
        was bound since: ``FrameScan.holds_at``) take the last index's parts as they are.
        """
        last = self._last
        if last is not None and frame is not None and last[0] is frame and last[1] == self._generation:
            held = last[2]
            if self._scans.get(id(frame)) is held and held.holds_at(frame.f_lasti):
                return NameIndex(held.names, last[3], last[4], self, last[5], last[6])
        frames = self.user_frames(frame)
        previous = self._scans
        scans: dict[int, FrameScan] = {}
        for f in frames:
            scan = previous.get(id(f))
            if scan is None or scan.frame is not f or not scan.holds_at(f.f_lasti):
                scan = FrameScan(f)
            scans[id(f)] = scan
        # Only the frames on the stack now are kept: a frame that returned is let go.
        self._scans = scans
        if not frames:
            self._last = None
            return NameIndex({}, {}, {}, self, ())
        inner_scan = scans[id(frames[0])]
        outer_scans = tuple([scans[id(f)] for f in frames[1:]])
        outer = self._outer
        # Scans compare by identity (no ``__eq__``): the same frames, each still read as before.
        if outer is None or outer[4] != self._generation or outer[0] != outer_scans:
            outer_names: dict[int, str] = {}
            for scan in outer_scans:
                for var, value in scan.tensors:
                    outer_names.setdefault(id(value), var)
            top: dict[int, str] = {}
            top_vars: Mapping[str, Any] = {}
            if outer_scans:
                top_vars = outer_scans[-1].mapping
                for var, value in outer_scans[-1].tensors:
                    top.setdefault(id(value), var)
            # Outermost frames first: ``model.0.weight`` from the script's top level is
            # booked before ``self.weight`` from inside a forward.
            for scan in reversed(outer_scans):
                for var, module in scan.modules:
                    self._root(var, module)
            outer = self._outer = (outer_scans, outer_names, top, top_vars, self._generation)
        names = inner_scan.names
        for var, module in inner_scan.modules:
            self._root(var, module)
        callers: dict[int, str] | None = None
        if outer_scans:
            top, top_vars, callers = outer[2], outer[3], outer[1]
        else:
            top, top_vars = names, inner_scan.mapping
        owners = method_owners((inner_scan, *outer_scans))
        # A generator's frame may be resumed from another caller: its callers are read each time.
        resumable = frame is None or frame.f_code.co_flags & _RESUMABLE
        self._last = (None if frames[0] is not frame or resumable else
                      (frames[0], self._generation, inner_scan, top, top_vars, owners, callers))
        return NameIndex(names, top, top_vars, self, owners, callers)

    def line_started(self, frame: FrameType) -> None:
        """A line event of ``frame``: its scan is read anew at its next op.

        A scan is reused while its frame stays at the same instruction, but a loop on one
        line (``for i in range(3): x = x * w``) comes back to the same instruction with
        ``x`` rebound; each pass starts with a line event, so this is where the scan ends.
        """
        self._scans.pop(id(frame), None)

    def forget_frames(self) -> None:
        """Let go of the frames (and their variables) the scans hold, e.g. once a backward is done."""
        self._scans = {}
        self._walked = (None, [])
        self._outer = None
        self._last = None

    def owner_name(self, obj: object, frame: FrameType | None) -> str:
        """The script's variable for an optimizer or module, else its class name."""
        for f in self.user_frames(frame):
            for var, value in frame_items(f):
                if value is obj:
                    return var
        return type(obj).__name__

    # ------------------------------------------------------------------ the book

    def entry(self, t: torch.Tensor) -> Entry | None:
        return self.book.entry(t)

    def booked_name(self, t: torch.Tensor) -> str | None:
        return self.book.name_of(t)

    def _root(self, var: str, module: Any) -> None:
        """Book every parameter and buffer of ``module`` under ``var`` (cached until a registration)."""
        key = (var, id(module))
        known = self._rooted.get(key)
        if known is not None and known[0]() is module and known[1] == self._generation:
            return
        rank = Rank.SELF_PATH if var == "self" else Rank.MODULE_PATH
        for path, tensor in module_tensors(module):
            self.book.give(tensor, f"{var}.{path}", rank)
        for path, sub in module.named_modules():
            self.outputs.name_module(sub, f"{var}.{path}" if path else var, rank)
        try:
            self._rooted[key] = (weakref.ref(module), self._generation)
        except TypeError:  # pragma: no cover - modules support weak references
            pass

    # ------------------------------------------------------------------ expressions

    def note_grads(self, leaves: Iterable[torch.Tensor]) -> None:
        """After a backward: each leaf's ``.grad`` is named after the leaf (``a.grad``)."""
        grads = self._grads
        for leaf in leaves:
            grad = leaf.grad
            if grad is not None and grads.get(grad) is None:
                grads.put(grad, weakref.ref(leaf))

    def derived_name(self, t: torch.Tensor) -> str | None:
        """``a.grad``, ``p.data``, or ``net.0 output``: a name made from a named object's."""
        output = self.outputs.name_of(t)
        if output is not None:
            return output
        leaf_ref = self._grads.get(t)
        if leaf_ref is not None:
            leaf = leaf_ref()
            leaf_name = self.booked_name(leaf) if leaf is not None else None
            if leaf_name is not None:
                return f"{leaf_name}.grad"
        # ``p.data`` is a new tensor on every access: the function mode saw which
        # parameter's ``.data`` it came from (``ManualUpdates.saw_data``).
        owner = self._data_owner(t)
        owner_name = self.booked_name(owner) if owner is not None else None
        return f"{owner_name}.data" if owner_name is not None else None

    def receiver(self, frame: FrameType | None) -> str | None:
        """The expression ``X`` of the ``X.backward()`` (or ``backward(X)``) call ``frame`` is making."""
        if frame is None:
            return None
        key = (frame.f_code, frame.f_lasti)
        if key not in self._receivers:
            self._receivers[key] = call_receiver(frame)
        return self._receivers[key]

    # ------------------------------------------------------------------ fallbacks

    def fallback(self, t: torch.Tensor) -> str:
        name = self._fallbacks.get(t)
        if name is None:
            self._counter += 1
            name = f"tensor#{self._counter}"
            self._fallbacks.put(t, name)
        return name
