"""Naming tensors the way the script names them: ``theta``, ``loss``, ``net.0.weight``.

A graph labelled with the user's own variable names is what makes the debugger
readable. A tensor is named after the variable bound to it in the script's frames,
innermost first; a module parameter after the module's variable and the parameter's
path in it. A tensor no name reaches gets a fallback (``tensor#3``) that stays the same
for as long as the tensor lives, so its history can still be followed.

Callers run with torch functions disabled.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

import torch


class NameIndex:
    """Names for the tensors reachable from some frames at one moment: id -> name."""

    __slots__ = ("_names", "_taken", "_namer", "_order")

    def __init__(self, names: dict[int, str], namer: Namer) -> None:
        self._names = names
        self._taken: dict[str, int] = {}
        self._namer = namer
        self._order: dict[int, int] | None = None

    def name(self, t: torch.Tensor) -> str:
        name = self._names.get(id(t))
        if name is None:
            name = self._namer.fallback(t)
        # Two different tensors in one event never share a name.
        owner = self._taken.setdefault(name, id(t))
        if owner != id(t):
            n = 2
            while self._taken.setdefault(f"{name}#{n}", id(t)) != id(t):
                n += 1
            name = f"{name}#{n}"
        return name

    def rank(self, t: torch.Tensor) -> int:
        """Position of ``t`` in the frames' order (variables first, then parameters)."""
        if self._order is None:
            self._order = {key: i for i, key in enumerate(self._names)}
        return self._order.get(id(t), len(self._order))


class Namer:
    """Builds ``NameIndex`` objects from the script's frames; owns the fallback names."""

    def __init__(self, is_user_frame: Callable[[FrameType], bool]) -> None:
        self._is_user_frame = is_user_frame
        self._fallback: dict[int, tuple[weakref.ref[torch.Tensor], str]] = {}
        self._counter = 0
        # id(module) -> (weakref, {id(param): dotted path})
        self._param_paths: dict[int, tuple[weakref.ref[Any], dict[int, str]]] = {}

    def user_frames(self, frame: FrameType | None) -> list[FrameType]:
        frames = []
        while frame is not None:
            if self._is_user_frame(frame):
                frames.append(frame)
            frame = frame.f_back
        return frames

    def index(self, frame: FrameType | None, with_params: bool = True) -> NameIndex:
        """Names visible from ``frame`` and the script frames that called it."""
        names: dict[int, str] = {}
        modules: list[tuple[str, Any]] = []
        module_cls = torch.nn.Module
        for f in self.user_frames(frame):
            for var, value in _frame_items(f):
                if isinstance(value, torch.Tensor):
                    names.setdefault(id(value), var)
                elif with_params and isinstance(value, module_cls):
                    modules.append((var, value))
        for var, module in modules:
            for pid, path in self._paths(module).items():
                names.setdefault(pid, f"{var}.{path}")
        return NameIndex(names, self)

    def owner_name(self, obj: object, frame: FrameType | None) -> str:
        """The script's variable for an optimizer or module, else its class name."""
        for f in self.user_frames(frame):
            for var, value in _frame_items(f):
                if value is obj:
                    return var
        return type(obj).__name__

    def fallback(self, t: torch.Tensor) -> str:
        entry = self._fallback.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1]
        self._counter += 1
        name = f"tensor#{self._counter}"
        key = id(t)
        fallback = self._fallback

        def forget(ref: weakref.ref[torch.Tensor]) -> None:
            current = fallback.get(key)
            if current is not None and current[0] is ref:
                del fallback[key]

        fallback[key] = (weakref.ref(t, forget), name)
        return name

    def _paths(self, module: Any) -> dict[int, str]:
        # Cached per module object: walking named_parameters() of a large model for every
        # event would cost more than the event. A parameter added to a module after its
        # first event is named by the fallback until the module is seen anew.
        key = id(module)
        entry = self._param_paths.get(key)
        if entry is not None and entry[0]() is module:
            return entry[1]
        paths = {id(p): path for path, p in module.named_parameters()}
        try:
            self._param_paths[key] = (weakref.ref(module), paths)
        except TypeError:  # pragma: no cover - modules support weak references
            pass
        return paths


def _frame_items(frame: FrameType) -> Iterable[tuple[str, Any]]:
    # A module's frame has f_locals is f_globals: reading it does not copy.
    return list(frame.f_locals.items())
