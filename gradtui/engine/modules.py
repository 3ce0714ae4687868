"""Which module's ``forward`` an operation ran in, as a dotted path inside the model.

The graph panel groups autograd nodes by the module that produced them
(``transformer.h.0.attn``), so each recorded operation needs the module whose ``forward``
is running. The call stack says it: the innermost frame running an ``nn.Module``
subclass's ``forward`` (with ``self`` a Module) is the module, and the outermost such
frame is the model the script called; the path is the inner module's name in the outer
one's ``named_modules()`` (``""`` for the model itself, ``None`` outside any module).

Per-op cost must stay small (a forward pass makes thousands of ops), so:

* the walk up to the innermost ``forward`` frame is short (a few frames) and is all that
  runs for most ops: when that frame is the one the previous op found, its path is
  reused (a frame's callers cannot change while it runs, and the frame is held, so its
  identity cannot be reused);
* ``named_modules()`` runs once per model, and again only after torch's global
  module-registration hook reports a submodule added anywhere (the paths may then have
  moved). Modules removed with ``del`` fire no hook; a removed module can then keep its
  old path, never lend it to another object, because entries hold weak references.

A module created and called inside another's ``forward`` without being registered has
no path in the model: its operations take the path of the nearest enclosing module that
has one. This module must not import textual.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any

import torch
from torch.nn.modules.module import register_module_module_registration_hook

_Module = torch.nn.Module
_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
#: module id -> (a weak reference to it, its dotted path), for one model.
_Paths = dict[int, tuple["weakref.ref[Any]", str]]
#: A module's dotted path and class name, or (None, None) outside any module.
Located = tuple[str | None, str | None]


class ModuleLocator:
    """``locate(frame)``: the dotted module path for an operation called below ``frame``."""

    def __init__(self) -> None:
        #: Code objects that are a Module subclass's ``forward`` (its first argument ``self``).
        self._forward_code: dict[CodeType, bool] = {}
        self._paths: weakref.WeakKeyDictionary[Any, _Paths] = weakref.WeakKeyDictionary()
        self._last_frame: FrameType | None = None
        self._last_path: Located = (None, None)
        #: (frame, module) of every running forward found by the last full look, inner first.
        self._chain: list[tuple[FrameType, Any]] = []
        self._chain_index: dict[int, int] = {}
        #: The script's frame an op was last attributed to, and what the walk found from it out.
        self._beyond: tuple[FrameType | None, Located] = (None, (None, None))
        self._handle: Any = None

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Listen for submodules being registered (any thread) while the script runs."""
        self._handle = register_module_module_registration_hook(self._invalidate)
        try:
            yield
        finally:
            self._handle.remove()
            self._handle = None
            self._invalidate()

    def locate(self, frame: FrameType | None, user: FrameType | None = None) -> Located:
        """``(path, class name)`` of the module an op called below ``frame`` ran in, or ``(None, None)``.

        ``user``: the script's frame the op belongs to, on the way out. What lies beyond it
        (its own frame and its callers) cannot change while it runs, so the walk from it
        outwards is remembered for it: an op at a script's top level, in no module at
        all, then walks only the frames between it and the op, not the whole stack.
        """
        while frame is not None:
            if frame is user:
                beyond = self._beyond
                if beyond[0] is user:
                    return beyond[1]
                found = self._walk(frame)
                if not user.f_code.co_flags & _RESUMABLE:  # a generator's callers change as it resumes
                    self._beyond = (user, found)
                return found
            here = self._module_at(frame)
            if here is not None:
                return here
            frame = frame.f_back
        return (None, None)

    def _walk(self, frame: FrameType | None) -> Located:
        while frame is not None:
            here = self._module_at(frame)
            if here is not None:
                return here
            frame = frame.f_back
        return (None, None)

    def _module_at(self, frame: FrameType) -> Located | None:
        """The module whose forward ``frame`` runs (the innermost one's path), or None if it runs none."""
        if not self._is_forward(frame.f_code):
            return None
        if frame is self._last_frame:
            return self._last_path
        module = frame.f_locals.get("self")  # f_locals copies the frame's locals: read once
        if isinstance(module, _Module):
            path = self._path_of_frame(frame, module)
            self._last_frame, self._last_path = frame, path
            return path
        return None

    def forget_frame(self) -> None:
        """Let go of the frames held for the cache (their locals stay alive while held)."""
        self._last_frame, self._last_path = None, (None, None)
        self._beyond = (None, (None, None))
        self._chain = []
        self._chain_index = {}

    def _invalidate(self, *_: Any) -> None:
        self._paths = weakref.WeakKeyDictionary()
        self.forget_frame()

    def _is_forward(self, code: CodeType) -> bool:
        known = self._forward_code.get(code)
        if known is None:
            known = self._forward_code[code] = (
                code.co_name == "forward" and code.co_argcount > 0 and code.co_varnames[0] == "self")
        return known

    def _path_of_frame(self, innermost: FrameType, its_module: Any) -> Located:
        """The modules whose forward is running, inner first, and the innermost one's path.

        The walk stops at the first frame of the previous answer's chain (the frames above
        it are the same): a Linear's forward inside an attention block's walks one frame.
        ``its_module``: the innermost frame's ``self``, which the caller has read already.
        """
        fresh: list[tuple[FrameType, Any]] = []
        known = self._chain_index
        frame: FrameType | None = innermost
        is_forward = self._is_forward
        rest: list[tuple[FrameType, Any]] = []
        while frame is not None:
            if is_forward(frame.f_code):
                at = known.get(id(frame))
                if at is not None and self._chain[at][0] is frame:
                    rest = self._chain[at:]
                    break
                module = its_module if frame is innermost else frame.f_locals.get("self")
                if isinstance(module, _Module):
                    fresh.append((frame, module))
            frame = frame.f_back
        chain = fresh + rest
        self._chain = chain
        self._chain_index = {id(f): i for i, (f, _) in enumerate(chain)}
        modules: list[Any] = []
        for _, module in chain:
            if not modules or modules[-1] is not module:  # a forward calling super().forward
                modules.append(module)
        if not modules:
            return (None, None)
        model = modules[-1]
        paths = self._paths_in(model, rebuild=False)
        for module in modules:
            path = _lookup(paths, module)
            if path is None:  # registered without the hook firing, or never registered
                paths = self._paths_in(model, rebuild=True)
                path = _lookup(paths, module)
            if path is not None:
                return path, type(module).__name__
        return "", type(model).__name__  # unreachable in practice: the model itself is always ""

    def _paths_in(self, model: Any, rebuild: bool) -> _Paths:
        paths = self._paths.get(model)
        if paths is not None and not (rebuild and not getattr(paths, "rebuilt", False)):
            return paths
        fresh = _RebuiltPaths() if rebuild else _Paths()
        # remove_duplicate (the default): a module shared by two parents keeps its first name.
        for name, module in model.named_modules():
            fresh[id(module)] = (weakref.ref(module), name)
        self._paths[model] = fresh
        return fresh


class _RebuiltPaths(dict[int, tuple["weakref.ref[Any]", str]]):
    """Paths rebuilt after a miss: a second miss in the same model does not rebuild again."""

    rebuilt = True


def _lookup(paths: _Paths, module: Any) -> str | None:
    entry = paths.get(id(module))
    if entry is None or entry[0]() is not module:
        return None
    return entry[1]
