"""Batches from a ``DataLoader`` as the script's ops: ``next(loader)`` at the ``for`` line.

A batch is made inside torch's data-loading code (collated in the main process, or in a
worker process and unpickled here), so the function mode never sees an operation of the
script's that returns it; without an event, ``xb`` would appear out of nowhere in the
first op that uses it. The iterator's ``__next__`` is wrapped once for the run: when the
script's own code asks for the next batch (its ``for`` loop, or ``next(it)``), each
tensor of the batch becomes one ``op`` event named ``next``, its arguments the loader's
variable and, for a tuple or dict batch, the tensor's place in it (``[1]``, ``['label']``).

Workers never reach the wrapper's recording path: they run in other processes, where
``Attribution.in_script_thread`` is false (a forked child) or gradtui is not loaded at all
(a spawned one). The batch itself is returned untouched.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.data import dataloader as _dataloader

from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture
from gradtui.engine.frame_scan import frame_items
from gradtui.engine.naming import Namer
from gradtui.engine.patches import Patches
from gradtui.engine.recorder import Recorder
from gradtui.model.events import OpCalled

_no_torch_function = torch._C.DisableTorchFunction
#: Tensors of one batch recorded at most (a batch of a hundred fields is not read one by one).
MOST_TENSORS = 16


class Batches:
    """Wraps ``DataLoader`` iterators' ``__next__`` for one run (a ``PatchSet``)."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer

    def install(self, patches: Patches) -> None:
        base = getattr(_dataloader, "_BaseDataLoaderIter", None)
        original = getattr(base, "__next__", None)
        if base is None or original is None:  # pragma: no cover - torch's layout changed
            return
        batches = self

        def __next__(it: Any) -> Any:
            batch = original(it)
            if batches._attribution.in_script_thread():
                batches._record(it, batch, sys._getframe(1))
            return batch

        patches.set_class_attr(base, "__next__", __next__)

    def _record(self, it: Any, batch: Any, caller: Any) -> None:
        frame = caller if self._attribution.filter.is_user(caller.f_code.co_filename) else None
        if frame is None:
            return  # a batch torch or a library asked for, not the script
        with _no_torch_function():
            name = _loader_name(it, frame)
            found = list(_tensors(batch, ""))[:MOST_TENSORS]
            summaries = [(place, self._capture.summarize(t)) for place, t in found]
        file, line = self._recorder.at(frame)
        enabled = torch.is_grad_enabled()
        for place, summary in summaries:
            args = (name, place) if place else (name,)
            self._recorder.emit(OpCalled, file, line, op="next", grad_fn=None, grad_enabled=enabled, args=args,
                                output=summary, graph=None)


def _loader_name(it: Any, frame: FrameType) -> str:
    """The script's variable for the ``DataLoader`` that ``it`` reads, else ``DataLoader``.

    torch's iterator keeps the loader's settings, not the loader: the variable is the one
    in the asking frame whose loader reads the same dataset (``for xb, yb in train_loader``).
    """
    dataset = getattr(it, "_dataset", None)
    for var, value in frame_items(frame):
        if isinstance(value, DataLoader) and value.dataset is dataset and not var.startswith("_"):
            return var
    return "DataLoader"


def _tensors(batch: Any, place: str, depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(batch, torch.Tensor):
        yield place, batch
    elif depth < 3 and isinstance(batch, (tuple, list)):
        for i, item in enumerate(batch):
            yield from _tensors(item, f"{place}[{i}]", depth + 1)
    elif depth < 3 and isinstance(batch, dict):
        for key, item in batch.items():
            yield from _tensors(item, f"{place}[{key!r}]", depth + 1)
