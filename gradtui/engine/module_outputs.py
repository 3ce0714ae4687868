"""Naming a module's output after the module: ``net.0 output``, ``lstm output[1][0]``.

Inside ``nn.Sequential`` (or any library module's ``forward``) the activations passed
from layer to layer are bound to no variable of the script's, so without this they would
be ``tensor#1``, ``tensor#2``. The module that returned them is the name the user knows.
torch's global forward hook hands over ``(module, input, output)`` after every forward;
this module remembers, per output tensor and without keeping it alive, which module
returned it, at which call and where in a tuple. The name itself is made when the tensor
is named, from the module's name then (rooted at the script's variable for the model, as
parameters are: ``net.0``), so a module seen before its model's variable is bound still
reads right.

Decisions:

* A tensor returned by several modules (a ``Sequential``'s last layer's output is the
  ``Sequential``'s) takes the outermost's name: its hook runs last. A tensor a module
  returns unchanged from its input (``Identity``, ``Dropout`` in eval) keeps its name.
* A module called more than once in one forward of the model numbers its later outputs
  by call: ``net.0 output``, ``net.0 output#2``. Calls are counted from the outermost
  module call the hooks see starting until it ends, so every training step starts again
  at ``net.0 output``.
* A variable the script binds still wins (``naming``): ``out = net(x)`` stays ``out``.

The hooks do nothing outside the script's thread (or in a forked child), and are removed
at the end of the run. Callers of ``name_of`` run with torch functions disabled.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import torch
from torch.nn.modules import module as _module_hooks

from gradtui.engine.identity import IdentityTable

#: A module's output is walked this deep into tuples, lists and dicts, and at most this
#: many tensors of it are named: a module returning a list of 10,000 tensors stays cheap.
_MAX_DEPTH = 4
_MAX_TENSORS = 64


class ModuleOutputs:
    """Which module returned a tensor, and the names modules are known by."""

    def __init__(self) -> None:
        #: output tensor -> (weak ref to the module, call number, ``[1][0]`` suffix)
        self._outputs: IdentityTable[tuple[weakref.ref[Any], int, str]] = IdentityTable()
        #: module -> (its name rooted at a script variable, the rank of that name; lower is better)
        self._names: IdentityTable[tuple[str, int]] = IdentityTable()
        #: id(module) -> calls so far in the current outermost module call
        self._calls: dict[int, int] = {}
        self._depth = 0
        self._thread: int | None = None
        self._pid = 0
        self._hooks: list[Any] = []

    # ------------------------------------------------------------------ lifetime

    def install(self) -> None:
        """Called in the script's thread: only that thread's module calls are followed."""
        self._thread, self._pid = threading.get_ident(), os.getpid()
        self._depth = 0
        self._calls.clear()
        self._hooks.append(_module_hooks.register_module_forward_pre_hook(self._entered))
        # always_call: a forward that raises still ends its call, so the count of open calls
        # stays right for a script that catches the error and goes on.
        self._hooks.append(_module_hooks.register_module_forward_hook(self._returned, always_call=True))

    def remove(self) -> None:
        while self._hooks:
            self._hooks.pop().remove()
        self._calls.clear()

    # ------------------------------------------------------------------ the hooks

    def _ours(self) -> bool:
        return threading.get_ident() == self._thread and os.getpid() == self._pid

    def _entered(self, module: Any, args: Any) -> None:
        if self._ours():
            self._depth += 1

    def _returned(self, module: Any, args: Any, output: Any) -> None:
        if not self._ours():
            return
        calls = self._calls
        n = calls[id(module)] = calls.get(id(module), 0) + 1
        if isinstance(output, torch.Tensor):
            if not any(a is output for a in args):
                self._outputs.put(output, (weakref.ref(module), n, ""))
        elif output is not None:
            found: list[tuple[torch.Tensor, str]] = []
            _tensors_in(output, "", 0, found)
            if found:
                ref = weakref.ref(module)
                for t, suffix in found:
                    if not any(a is t for a in args):
                        self._outputs.put(t, (ref, n, suffix))
        self._depth -= 1
        if self._depth <= 0:  # the outermost call ended: the next forward counts afresh
            self._depth = 0
            calls.clear()

    # ------------------------------------------------------------------ names

    def name_module(self, module: Any, name: str, rank: int) -> None:
        """``module`` is reachable as ``name``; kept unless it has a name at least as good."""
        known = self._names.get(module)
        if known is None or rank < known[1]:
            self._names.put(module, (name, rank))

    def module_name(self, module: Any) -> str | None:
        known = self._names.get(module)
        return known[0] if known is not None else None

    def name_of(self, t: torch.Tensor) -> str | None:
        """``net.0 output``, ``net.0 output#2``, ``lstm output[1][0]``; None if no named module returned ``t``."""
        made = self._outputs.get(t)
        if made is None:
            return None
        ref, n, suffix = made
        module = ref()
        name = self.module_name(module) if module is not None else None
        if name is None:
            return None
        return f"{name} output{'' if n == 1 else f'#{n}'}{suffix}"


def _tensors_in(value: Any, suffix: str, depth: int, found: list[tuple[torch.Tensor, str]]) -> None:
    if len(found) >= _MAX_TENSORS:
        return
    if isinstance(value, torch.Tensor):
        found.append((value, suffix))
    elif depth >= _MAX_DEPTH:
        return
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _tensors_in(item, f"{suffix}[{i}]", depth + 1, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _tensors_in(item, f"{suffix}[{key!r}]", depth + 1, found)
