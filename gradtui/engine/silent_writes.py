"""Writes torch makes without bumping a tensor's ``_version``: batch norm's running statistics.

gradtui knows a tensor is unchanged by its ``_version``: the capture reuses its summary
(``gradtui.engine.capture``) and a variable keeps its signature
(``gradtui.engine.var_signatures``). Measured here (torch 2.13, CPU): a batch norm in
training writes its ``running_mean`` and ``running_var`` in its kernel, and their
``_version`` stays where it was (``F.batch_norm``, ``torch.batch_norm``,
``torch.native_batch_norm``; ``F.instance_norm`` copies them back with ``copy_``, which
does bump it). Without this module a model with batch norm showed its running statistics
as they were at their first summary, for the whole run.

So the op mode reports those calls (``written_by``), and each write counts here: the
capture and the signatures add a tensor's count to its ``_version``. The counts are kept
by the tensor's id while it lives (a weak reference's callback drops them).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

#: ``id(tensor)`` -> the writes seen that its ``_version`` does not count. Empty (and so
#: nothing to look up) in a run without batch norm.
SILENT: dict[int, int] = {}
_REFS: dict[int, weakref.ref[torch.Tensor]] = {}

#: The functions that write running statistics silently: the positions of ``running_mean``
#: and ``running_var``; ``training`` is the sixth argument of each (default False).
WRITERS: Mapping[Any, tuple[int, int]] = {
    F.batch_norm: (1, 2),
    torch.batch_norm: (3, 4),
    torch.native_batch_norm: (3, 4),
}
_TRAINING = 5


def written_by(func: Any, args: Any, kwargs: Mapping[str, Any]) -> None:
    """``func`` (one of ``WRITERS``) just ran with ``args`` and ``kwargs``: count its writes."""
    training = args[_TRAINING] if len(args) > _TRAINING else kwargs.get("training", False)
    if not training:
        return
    for position, name in zip(WRITERS[func], ("running_mean", "running_var")):
        t = args[position] if len(args) > position else kwargs.get(name)
        if isinstance(t, torch.Tensor):
            _count(t)


def _count(t: torch.Tensor) -> None:
    key = id(t)
    ref = _REFS.get(key)
    if ref is None or ref() is not t:
        _REFS[key] = weakref.ref(t, lambda _, key=key: _forget(key))  # type: ignore[misc]
        SILENT[key] = 0
    SILENT[key] += 1


def _forget(key: int) -> None:
    SILENT.pop(key, None)
    _REFS.pop(key, None)
