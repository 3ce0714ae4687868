"""What one frame's variables hold: its tensors and modules, by variable name.

Naming (``gradtui.engine.naming``) reads the script's frames to call a tensor by the
variable bound to it; this module holds the reading itself, and the reuse of one
reading while the frame stays at the same instruction. It changes nothing in a frame
and records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import FrameType
from typing import Any

import torch


class FrameScan:
    """The tensors and modules among one frame's variables, at one instruction of it.

    While a frame is inside one call (the same ``f_lasti``) its variables cannot change,
    so the scan is reused for every operation made below that call: a transformer block's
    forward makes dozens of ops while its caller's frames stay where they are. A loop on
    one line comes back to the same instruction with its variables rebound: its line
    event drops the scan (``Namer.line_started``). (A global rebound by a function the
    frame called is the one change this misses, until the frame moves on.)
    """

    __slots__ = ("frame", "lasti", "mapping", "tensors", "modules")

    def __init__(self, frame: FrameType) -> None:
        self.frame = frame
        self.lasti = frame.f_lasti
        # A module's frame has f_locals is f_globals: reading it does not copy.
        self.mapping: Mapping[str, Any] = frame.f_locals
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


def module_tensors(module: Any) -> Iterator[tuple[str, torch.Tensor]]:
    yield from module.named_parameters()
    for path, buffer in module.named_buffers():
        if buffer is not None:
            yield path, buffer


def frame_items(frame: FrameType) -> Iterable[tuple[str, Any]]:
    # A module's frame has f_locals is f_globals: reading it does not copy.
    return list(frame.f_locals.items())
