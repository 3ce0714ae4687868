"""Cheap signatures of the script's values: whether a variable changed since the last look.

``gradtui.engine.variables`` looks at a frame's variables at every line event of it, and
describing a value (``Describer``: a capture per tensor, a walk over a module) costs far
more than most lines. So each value gets a signature first, a flat tuple of numbers read
in a few attribute accesses, and only a value whose signature differs from the last one is
described again. A signature must change whenever the ``Var`` would:

- a tensor: its identity, ``_version`` (bumped by every in-place write, optimizer step and
  gradient accumulation; plus the writes ``gradtui.engine.silent_writes`` counts, which
  it misses), ``requires_grad``, ``grad_fn``, and the identity and version of its
  ``.grad`` (read only where torch allows it without a warning: on a leaf, or on a
  non-leaf that called ``retain_grad()``);
- a module: its identity, its training flag, and that signature of each parameter and
  buffer (up to ``MAX_MODULE_MEMBERS``, as many as the ``Var`` shows);
- an optimizer: its identity, how many parameters have state, the version of each
  parameter (``step()`` writes the parameters and their state together) and the group
  hyperparameters (a scheduler writes ``lr`` there);
- a scheduler: its identity, ``last_epoch`` and its last learning rates;
- a container: its type and length, and the signatures of its first ``MAX_MEMBERS`` items
  (``MAX_DEPTH`` levels deep, as the ``Var`` opens);
- a number or a string: its type and value.

Identities are the ids of weak references, not of the objects: the ``keep`` list of a
signature holds the references, so while a signature is kept no other object can have
the same id in it, and the signature never keeps the script's tensors alive. Objects
without a weak reference (containers) are compared by their contents. What must not
happen here: reading ``.grad`` of a non-leaf, calling the script's own code, or holding
the script's values. Callers run with torch functions disabled.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

import torch

from gradtui.engine.silent_writes import SILENT
from gradtui.engine.var_values import MAX_DEPTH
from gradtui.model.variables import MAX_MEMBERS, MAX_MODULE_MEMBERS

# The kinds of value a frame's variable may hold; SKIP: not a variable worth showing.
SKIP, TENSOR, NUMBER, TEXT, MODULE, OPTIMIZER, SCHEDULER, CONTAINER = range(8)

Signature = tuple[Any, ...]

_sched = torch.optim.lr_scheduler
#: The kind of each class seen (``kind_of``); read directly by the callers that loop over many values.
KINDS: dict[type, int] = {}
_ref = weakref.ref


def kind_of(value: Any) -> int:
    """What ``value`` is, by its class (one dictionary lookup once a class has been seen).

    Everything the ``Describer`` would show as role ``"object"`` is SKIP: modules,
    functions, classes, typing objects, the script's own objects. Showing those would
    cost a ``repr``, which may run the script's own code, and say little about training.
    ``torch.dtype`` and ``torch.device`` values are kept (``device = torch.device(...)``).
    """
    cls = type(value)
    kind = KINDS.get(cls)
    if kind is None:
        kind = KINDS[cls] = _classify(cls)
    return kind


def _classify(cls: type) -> int:
    if issubclass(cls, torch.Tensor):
        return TENSOR
    if cls is type(None) or issubclass(cls, bool | int | float | complex):
        return NUMBER
    if issubclass(cls, str | bytes | torch.dtype | torch.device):
        return TEXT
    if issubclass(cls, torch.nn.Module):
        return MODULE
    if issubclass(cls, torch.optim.Optimizer):
        return OPTIMIZER
    if issubclass(cls, _sched.LRScheduler | _sched.ReduceLROnPlateau):
        return SCHEDULER
    if issubclass(cls, list | tuple | dict | set | frozenset):
        return CONTAINER
    return SKIP


def signature(value: Any, kind: int, keep: list[Any], depth: int = 0) -> Any:
    """The signature of ``value`` of ``kind`` (not SKIP); the references it relies on go to ``keep``."""
    if kind == TENSOR:
        return tensor_signature(value, keep)
    if kind == NUMBER or kind == TEXT:
        return (type(value), value)
    if kind == MODULE:
        return module_signature(value, keep)
    if kind == OPTIMIZER:
        return optimizer_signature(value, keep)
    if kind == SCHEDULER:
        return scheduler_signature(value, keep)
    if kind == CONTAINER:
        return container_signature(value, keep, depth)
    # An object inside a container: the Describer shows its repr; known by identity.
    return (SKIP, id(type(value)), id(value))


def tensor_signature(t: torch.Tensor, keep: list[Any]) -> Signature:
    ref = _ref(t)
    keep.append(ref)
    try:
        version = t._version
    except RuntimeError:  # an inference tensor has no version counter
        version = -1
    if SILENT:  # batch norm's running statistics: writes the version does not count
        version += SILENT.get(id(t), 0)
    fn = t.grad_fn
    grad = t.grad if fn is None or t.retains_grad else None  # a non-leaf's .grad warns
    if grad is None:
        return (id(ref), version, t.requires_grad, id(fn), 0, 0)
    gref = _ref(grad)
    keep.append(gref)
    try:
        grad_version = grad._version
    except RuntimeError:
        grad_version = -1
    return (id(ref), version, t.requires_grad, id(fn), id(gref), grad_version)


def module_signature(m: torch.nn.Module, keep: list[Any]) -> Signature:
    ref = _ref(m)
    keep.append(ref)
    parts: list[Any] = [id(ref), m.training]
    count = 0
    seen: set[int] = set()
    stack: list[torch.nn.Module | None] = [m]
    # The module's own dictionaries, not named_parameters(): three times cheaper, and a
    # signature does not need the names. A parameter is a leaf (reading its .grad is
    # safe) except inside torch.func.functional_call, which swaps tensors in.
    while stack and count < MAX_MODULE_MEMBERS:
        mod = stack.pop()
        if mod is None or id(mod) in seen:
            continue
        seen.add(id(mod))
        for t in mod._parameters.values():
            if t is None:
                continue
            count += 1
            try:
                if t.grad_fn is not None:
                    parts += tensor_signature(t, keep)
                    continue
                r = _ref(t)
                keep.append(r)
                g = t.grad
                if g is None:
                    parts += (id(r), t._version, t.requires_grad, 0, 0)
                else:
                    gr = _ref(g)
                    keep.append(gr)
                    parts += (id(r), t._version, t.requires_grad, id(gr), g._version)
            except RuntimeError:  # an inference tensor has no version counter
                parts += tensor_signature(t, keep)
        for b in mod._buffers.values():
            if b is not None:
                count += 1
                parts += tensor_signature(b, keep)
        stack.extend(mod._modules.values())
    return tuple(parts)


def optimizer_signature(opt: torch.optim.Optimizer, keep: list[Any]) -> Signature:
    ref = _ref(opt)
    keep.append(ref)
    parts: list[Any] = [id(ref), len(opt.state)]
    count = 0
    for group in opt.param_groups:
        params = group["params"]
        parts.append(len(params))
        for p in params:
            if count >= MAX_MODULE_MEMBERS:
                break
            count += 1
            try:
                parts.append(p._version)
            except RuntimeError:
                parts.append(-1)
        for key, v in group.items():
            if key != "params":
                parts.append(key)
                parts.append(signature(v, kind_of(v), keep, MAX_DEPTH))
    return tuple(parts)


def scheduler_signature(sched: Any, keep: list[Any]) -> Signature:
    ref = _ref(sched)
    keep.append(ref)
    last = getattr(sched, "_last_lr", None)
    lrs = container_signature(last, keep, 0) if isinstance(last, list | tuple) else None
    return (id(ref), getattr(sched, "last_epoch", None), lrs)


def container_signature(value: Any, keep: list[Any], depth: int) -> Signature:
    if depth >= MAX_DEPTH:
        return (type(value), len(value))
    parts: list[Any] = [type(value), len(value)]
    if isinstance(value, dict):
        for key, item in itertools.islice(value.items(), MAX_MEMBERS):
            key_kind = kind_of(key)
            parts.append((type(key), key) if key_kind == NUMBER or key_kind == TEXT else id(key))
            parts.append(signature(item, kind_of(item), keep, depth + 1))
    else:
        for item in itertools.islice(value, MAX_MEMBERS):
            parts.append(signature(item, kind_of(item), keep, depth + 1))
    return tuple(parts)
