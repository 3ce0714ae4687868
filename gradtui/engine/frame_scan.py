"""What one frame's variables hold: its tensors and modules, by variable name.

Naming (``gradtui.engine.naming``) reads the script's frames to call a tensor by the
variable bound to it; this module holds the reading itself, and the reuse of one
reading while the frame stays at the same instruction. It changes nothing in a frame
and records nothing.
"""

from __future__ import annotations

import dis
import inspect
from collections.abc import Iterable, Iterator, Mapping
from types import CodeType, FrameType
from typing import Any

import torch

#: Instructions that bind or unbind one of the frame's own variables (3.12 inlines
#: comprehensions: ``LOAD_FAST_AND_CLEAR`` hides the outer variable of the same name).
_BINDERS = frozenset(op for name, op in dis.opmap.items()
                     if name.startswith(("STORE_", "DELETE_", "LOAD_FAST_AND_CLEAR", "MAKE_CELL", "IMPORT_STAR"))
                     and not name.endswith(("_ATTR", "_SUBSCR", "_SLICE")))
#: What a function frame has and a module's or class body's has not: variables of its own.
_OPTIMIZED = inspect.CO_OPTIMIZED | inspect.CO_NEWLOCALS
#: Per code object, the number of binding instructions before each instruction (or None).
_BINDINGS: dict[CodeType, list[int] | None] = {}
_BINDINGS_SIZE = 4096


def _bindings(code: CodeType) -> list[int] | None:
    """Binding instructions before each code unit of ``code``; None where only the frame's
    own instructions are not the whole story: a module's or class body's variables (another
    function may rebind a global) and a function with cells (a closure may rebind one)."""
    if code in _BINDINGS:
        return _BINDINGS[code]
    table: list[int] | None
    if code.co_flags & _OPTIMIZED != _OPTIMIZED or code.co_cellvars or code.co_freevars:
        table = None
    else:
        raw = code.co_code
        table = [0] * (len(raw) // 2 + 1)
        count = 0
        for unit in range(len(raw) // 2):
            table[unit] = count
            if raw[2 * unit] in _BINDERS:
                count += 1
        table[-1] = count
    if len(_BINDINGS) >= _BINDINGS_SIZE:
        _BINDINGS.clear()
    _BINDINGS[code] = table
    return table


class FrameScan:
    """The tensors and modules among one frame's variables, at one instruction of it.

    While a frame is inside one call (the same ``f_lasti``) its variables cannot change,
    so the scan is reused for every operation made below that call: a transformer block's
    forward makes dozens of ops while its caller's frames stay where they are. A loop on
    one line comes back to the same instruction with its variables rebound: its line
    event drops the scan (``Namer.line_started``). (A global rebound by a function the
    frame called is the one change this misses, until the frame moves on.)

    A function frame that moved forward within one line (``c = sigmoid(f) * c +
    sigmoid(i) * tanh(g)`` is six ops at six instructions) keeps its scan too, when no
    instruction it passed binds a variable (``holds_at``): an LSTM cell's ops were each
    paying a fresh reading of the frame.
    """

    __slots__ = ("frame", "lasti", "mapping", "tensors", "modules", "_names", "_bindings")

    def __init__(self, frame: FrameType) -> None:
        self.frame = frame
        self.lasti = frame.f_lasti
        self.mapping: Mapping[str, Any] = frame_namespace(frame)
        tensors: list[tuple[str, torch.Tensor]] = []
        modules: list[tuple[str, Any]] = []
        tensor_cls, module_cls = torch.Tensor, torch.nn.Module
        for var, value in list(self.mapping.items()):
            if isinstance(value, tensor_cls):
                tensors.append((var, value))
            elif isinstance(value, module_cls):
                modules.append((var, value))
        self.tensors = tensors
        self.modules = modules
        self._names: dict[int, str] | None = None
        self._bindings = _bindings(frame.f_code)

    def holds_at(self, lasti: int) -> bool:
        """Whether the frame's variables, now at instruction ``lasti``, are still the ones read.

        The same instruction, or a later one of a function frame with no binding
        instruction between (a backward jump always starts a new reading: the line event
        that follows it drops the scan, and a jump is not a forward move anyway).
        """
        if lasti == self.lasti:
            return True
        table = self._bindings
        if table is None or lasti < self.lasti or table[lasti // 2] != table[self.lasti // 2 + 1]:
            return False
        self.lasti = lasti
        return True

    @property
    def names(self) -> dict[int, str]:
        """id of each tensor -> its first variable, in the frame's order (read once per scan)."""
        names = self._names
        if names is None:
            names = self._names = {}
            for var, value in self.tensors:
                names.setdefault(id(value), var)
        return names


def module_tensors(module: Any) -> Iterator[tuple[str, torch.Tensor]]:
    yield from module.named_parameters()
    for path, buffer in module.named_buffers():
        if buffer is not None:
            yield path, buffer


def frame_items(frame: FrameType) -> Iterable[tuple[str, Any]]:
    return list(frame_namespace(frame).items())


def frame_namespace(frame: FrameType) -> Mapping[str, Any]:
    """The variables ``frame``'s code sees, by name.

    A module's frame has ``f_locals is f_globals``: reading it does not copy. The exception
    is a comprehension at a module's top level on Python 3.13: it runs inlined in the
    module's frame (PEP 709), whose ``f_locals`` is then a proxy of the comprehension's own
    variables alone (PEP 667), so ``[x * w for x in xs]`` would not see ``w``. There the
    module's globals are added under the comprehension's variables.
    """
    local = frame.f_locals
    if type(local) is dict or frame.f_code.co_flags & _OPTIMIZED or frame.f_code.co_name != "<module>":
        return local
    merged = dict(local)
    for name, value in frame.f_globals.items():
        merged.setdefault(name, value)
    return merged
