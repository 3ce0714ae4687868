"""Live Python values as ``Var`` trees: what the variables panel and the prompt show of them.

Both the per-line capture of the script's variables (``gradtui.engine.variables``) and
the evaluation of an expression at a pause (``gradtui.engine.evaluation``) describe a
value the same way, here. Only values that say something about training open into
members: tensors, modules, optimizers, schedulers, and containers of them; a module's
parameters and buffers go by the names ``named_parameters`` gives. Anything else is its
type and a short repr, never a memory address (``<MulBackward0 object at 0x…>`` reads
``MulBackward0``). Callers run with torch functions disabled, so nothing done here is
seen as the script's own.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import torch

from gradtui.engine.capture import TensorCapture
from gradtui.model.variables import MAX_MEMBERS, MAX_MODULE_MEMBERS, Refreshed, TensorFacts, Var

#: A repr is cut to this many characters.
MAX_TEXT = 120
#: Containers open this many levels deep (a list of dicts of tensors), no deeper.
MAX_DEPTH = 3
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

NodeId = Callable[[Any], "int | None"]


def _no_node(node: Any) -> int | None:
    return None


class Describer:
    """Turns values into ``Var`` trees, tensors through the run's capture (reused while unchanged)."""

    def __init__(self, capture: TensorCapture, node_id: NodeId = _no_node) -> None:
        self._capture = capture
        self._node_id = node_id
        #: A param group's ``Var`` by what it holds (``_group_key``): every step changes the
        #: optimizer's state, so it is described again after each one, its groups mostly not.
        self._groups: dict[tuple[Any, ...], Var] = {}

    def describe(self, value: Any, depth: int = 0) -> Var:
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, bool) or value is None:
            return Var("number", type(value).__name__, repr(value))
        if type(value) is float:  # the common case, and a float's repr is always short
            return Var("number", "float", repr(value))
        if isinstance(value, int | float | complex):
            return Var("number", type(value).__name__, short_repr(value))
        if isinstance(value, str | bytes):  # a long text is cut before its repr is made
            return Var("text", type(value).__name__, short_repr(value[: MAX_TEXT + 1]))
        if isinstance(value, torch.nn.Module):
            return self.module(value)
        if isinstance(value, torch.optim.Optimizer):
            return self.optimizer(value)
        if _is_scheduler(value):
            return self.scheduler(value)
        if isinstance(value, list | tuple | dict | set | frozenset):
            return self.container(value, depth)
        if isinstance(value, torch.dtype | torch.device | torch.Size):
            return Var("text", type(value).__name__, str(value))
        return Var("object", type(value).__name__, short_repr(value))

    def tensor(self, t: torch.Tensor) -> Var:
        kind, facts = self._facts(t)
        return Var("tensor", kind, tensor=facts)

    def _facts(self, t: torch.Tensor) -> tuple[str, TensorFacts]:
        """The type a tensor's ``Var`` shows (``Parameter``) and its facts."""
        summary = self._capture.summarize(t)
        assert summary is not None
        try:
            version: int | None = t._version
        except RuntimeError:  # an inference tensor has no version counter
            version = None
        fn = t.grad_fn
        leaf = fn is None
        retains = not leaf and t.retains_grad
        grad = t.grad if leaf or retains else None  # a non-leaf's .grad warns unless it retains it
        facts = TensorFacts(summary, "cpu" if t.is_cpu else str(t.device), leaf, version,
                            None if grad is None else self._capture.summarize(grad),
                            None if leaf else self._node_id(fn), retains)
        return "Parameter" if is_parameter(t) else type(t).__name__, facts

    def refresh(self, value: Any, template: Var) -> Refreshed | None:
        """``value`` (a module or an optimizer) as a refresh of ``template``, its earlier ``Var``:
        None unless ``describe`` would give the same tree with only its tensors' values,
        versions and grads new (a parameter added, renamed or moved to another device, a
        module switched to eval, a learning rate changed: it is described anew)."""
        states: list[Any] = []
        if template.role == "module" and isinstance(value, torch.nn.Module):
            same = self._module_states(value, template, states)
        elif template.role == "optimizer" and isinstance(value, torch.optim.Optimizer):
            same = self._optimizer_states(value, template, states)
        else:
            return None
        return Refreshed(template, tuple(states)) if same else None

    def _same_tensor(self, t: Any, old: Var, states: list[Any]) -> bool:
        """Whether ``t`` reads as ``old`` but for its value, version and grad (appended to ``states``)."""
        was = old.tensor
        if was is None or not isinstance(t, torch.Tensor):
            return False
        # What ``_facts`` reads, compared as it is read: no ``TensorFacts`` is made to be
        # thrown away (a refresh reads every parameter and state tensor, three times a step).
        fn = t.grad_fn
        leaf = fn is None
        if leaf != was.is_leaf or ("cpu" if t.is_cpu else str(t.device)) != was.device:
            return False
        retains = not leaf and t.retains_grad
        if retains != was.retains_grad or (not leaf and self._node_id(fn) != was.node):
            return False
        if ("Parameter" if is_parameter(t) else type(t).__name__) != old.type:
            return False
        summarize = self._capture.summarize
        try:
            version: int | None = t._version
        except RuntimeError:  # an inference tensor has no version counter
            version = None
        grad = t.grad if leaf or retains else None  # a non-leaf's .grad warns unless it retains it
        states += (summarize(t), version, None if grad is None else summarize(grad))
        return True

    def _module_states(self, m: torch.nn.Module, template: Var, states: list[Any]) -> bool:
        named_params, named_buffers = _named_tensors(m)
        count = len(named_params) + len(named_buffers)
        members = template.members
        if (_module_text(m, len(named_params)) != template.text or len(members) != min(count, MAX_MODULE_MEMBERS)
                or template.length != (count if count > len(members) else None)):
            return False
        for (name, t), (known, old) in zip(itertools.chain(named_params, named_buffers), members):
            if name != known or not self._same_tensor(t, old, states):
                return False
        return True

    def _optimizer_states(self, opt: torch.optim.Optimizer, template: Var, states: list[Any]) -> bool:
        if _optimizer_text(opt) != template.text:  # the same counts of groups and of state
            return False
        members = template.members
        groups = opt.param_groups
        for i, group in enumerate(groups):
            key = _group_key(group)
            # A group's Var is the one kept for what it holds, or it is not known to be the same.
            if key is None or i >= len(members) or members[i][1] is not self._groups.get(key):
                return False
        names = _param_names(opt)
        held = members[len(groups):]
        n = 0
        for p, entries in itertools.islice(opt.state.items(), MAX_MEMBERS):
            if not isinstance(entries, dict):
                continue
            if n >= len(held) or held[n][0] != f"state[{names.get(id(p), f'param#{n}')}]":
                return False
            old_items = held[n][1].members
            n += 1
            if len(old_items) != len(entries):
                return False
            for (key, v), (known, old) in zip(entries.items(), old_items):
                if str(key) != known:
                    return False
                if isinstance(v, torch.Tensor):
                    if not self._same_tensor(v, old, states):
                        return False
                elif old.tensor is not None or self.describe(v, MAX_DEPTH) != old:
                    return False
        steps = len(opt.state)
        return n == len(held) and template.length == (len(groups) + steps if steps > n else None)

    def module(self, m: torch.nn.Module) -> Var:
        members: list[tuple[str, Var]] = []
        named_params, named_buffers = _named_tensors(m)
        params = len(named_params)
        count = params + len(named_buffers)
        for name, t in itertools.chain(named_params, named_buffers):
            if len(members) >= MAX_MODULE_MEMBERS:
                break
            members.append((name, self.tensor(t)))
        return Var("module", type(m).__name__, _module_text(m, params), members=tuple(members),
                   length=count if count > len(members) else None)

    def optimizer(self, opt: torch.optim.Optimizer) -> Var:
        names = _param_names(opt)
        groups: list[tuple[str, Var]] = []
        for i, group in enumerate(opt.param_groups):
            key = _group_key(group)
            var = self._groups.get(key) if key is not None else None
            if var is None:
                hyper = tuple((k, self.describe(v, MAX_DEPTH)) for k, v in group.items() if k != "params")
                text = f"{len(group['params'])} parameter tensor{'s' if len(group['params']) != 1 else ''}"
                var = Var("container", "dict", text, members=hyper)
                if key is not None:
                    if len(self._groups) >= _GROUPS_KEPT:
                        self._groups.clear()
                    self._groups[key] = var
            groups.append((f"param_groups[{i}]", var))
        state: list[tuple[str, Var]] = []
        for p, entries in itertools.islice(opt.state.items(), MAX_MEMBERS):
            if not isinstance(entries, dict):
                continue
            items = tuple((str(k), self.describe(v, MAX_DEPTH)) for k, v in entries.items())
            name = names.get(id(p), f"param#{len(state)}")
            state.append((f"state[{name}]", Var("container", "dict", "", members=items)))
        steps = len(opt.state)
        return Var("optimizer", type(opt).__name__, _optimizer_text(opt), members=tuple(groups + state),
                   length=len(groups) + steps if steps > len(state) else None)

    def scheduler(self, sched: Any) -> Var:
        last = getattr(sched, "_last_lr", None)
        epoch = getattr(sched, "last_epoch", None)
        text = f"last_epoch {epoch}" + (f", lr {', '.join(short_repr(v) for v in last)}" if last else "")
        return Var("scheduler", type(sched).__name__, text)

    def container(self, value: Any, depth: int) -> Var:
        kind = type(value).__name__
        if depth >= MAX_DEPTH:
            return Var("container", kind, _items_text(len(value)), length=len(value))
        items: list[tuple[str, Var]] = []
        if isinstance(value, dict):
            for key, v in itertools.islice(value.items(), MAX_MEMBERS):
                items.append((f"[{short_repr(key)}]", self.describe(v, depth + 1)))
        else:
            for i, v in enumerate(itertools.islice(value, MAX_MEMBERS)):
                items.append((f"[{i}]", self.describe(v, depth + 1)))
        return Var("container", kind, _items_text(len(value)), members=tuple(items),
                   length=len(value) if len(value) > len(items) else None)

    def resized(self, var: Var, length: int) -> Var:
        """``var`` (a container's, from ``container``) for the same container at ``length``
        items whose first ``MAX_MEMBERS`` are those ``var`` shows: only its count is new."""
        return Var("container", var.type, _items_text(length), members=var.members,
                   length=length if length > len(var.members) else None)


def _module_text(m: torch.nn.Module, params: int) -> str:
    return f"{'train' if m.training else 'eval'}, {params} parameter tensor{'s' if params != 1 else ''}"


def _optimizer_text(opt: torch.optim.Optimizer) -> str:
    groups = len(opt.param_groups)
    return f"{groups} group{'s' if groups != 1 else ''}, state for {len(opt.state)}"


def _items_text(n: int) -> str:
    """A container's one-line text: how many items it holds."""
    return f"{n} item{'s' if n != 1 else ''}"


#: Group descriptions kept at most (a scheduler makes a new one per learning rate).
_GROUPS_KEPT = 256
#: Hyperparameter values a group's description can be reused for: compared by value.
_SCALARS = frozenset({float, int, bool, str, type(None)})


def _group_key(group: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a param group's ``Var`` says, as a key: its parameter count and each
    hyperparameter's name, type and value (``-0.0`` apart from ``0.0``, ``1`` from ``1.0``);
    None if a value is not a plain number, string or tuple of them (a tensor learning rate,
    a list): such a group is described every time."""
    parts: list[Any] = [len(group["params"])]
    for key, value in group.items():
        if key == "params":
            continue
        if type(value) is tuple:
            items = tuple(_scalar_key(v) for v in value)
            if None in items:
                return None
            parts += (key, items)
        else:
            one = _scalar_key(value)
            if one is None:
                return None
            parts += (key, one)
    return tuple(parts)


def _scalar_key(value: Any) -> tuple[Any, ...] | None:
    kind = type(value)
    if kind not in _SCALARS:
        return None
    if kind is float and value == 0:
        return (kind, value, math.copysign(1.0, value))
    return (kind, value)


_PARAMETER_TYPES: dict[type, bool] = {}


def is_parameter(t: torch.Tensor) -> bool:
    """``isinstance(t, torch.nn.Parameter)``, without its metaclass's Python ``__instancecheck__``.

    That check (a subclass of Parameter, or a tensor marked ``_is_param``) ran for every
    tensor described at every line and was a fifth of the line events' cost.
    """
    cls = type(t)
    known = _PARAMETER_TYPES.get(cls)
    if known is None:
        known = _PARAMETER_TYPES[cls] = issubclass(cls, torch.nn.Parameter)
    return known or bool(getattr(t, "_is_param", False))


def short_repr(value: Any) -> str:
    """``repr(value)`` without memory addresses, on one line, cut to ``MAX_TEXT`` characters."""
    try:
        text = repr(value)
    except Exception as error:  # a user's __repr__ may raise: say so, do not fail the capture
        text = f"<{type(value).__name__}: repr raised {type(error).__name__}>"
    text = _ADDRESS.sub("", " ".join(text.split()))
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _named_tensors(m: torch.nn.Module) -> tuple[list[tuple[str, torch.Tensor]], list[tuple[str, torch.Tensor]]]:
    """``(list(m.named_parameters()), list(m.named_buffers()))`` in one walk, a third of the time.

    The same order and names: modules depth first as ``named_modules`` visits them, each
    module and each tensor once (a shared layer is named where it is first reached).
    """
    params: list[tuple[str, torch.Tensor]] = []
    buffers: list[tuple[str, torch.Tensor]] = []
    seen_modules: set[int] = set()
    seen_params: set[int] = set()
    seen_buffers: set[int] = set()
    stack: list[tuple[str, torch.nn.Module]] = [("", m)]
    while stack:
        prefix, mod = stack.pop()
        if id(mod) in seen_modules:
            continue
        seen_modules.add(id(mod))
        for out, seen, tensors in ((params, seen_params, mod._parameters), (buffers, seen_buffers, mod._buffers)):
            for name, t in tensors.items():
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    out.append((prefix + name, t))
        children = [(f"{prefix}{name}.", sub) for name, sub in mod._modules.items() if sub is not None]
        stack.extend(reversed(children))
    return params, buffers


def _is_scheduler(value: Any) -> bool:
    sched = torch.optim.lr_scheduler
    return isinstance(value, sched.LRScheduler | sched.ReduceLROnPlateau)


def _param_names(opt: torch.optim.Optimizer) -> dict[int, str]:
    """``{id(param): "group.index"}`` for the parameters of ``opt`` (the state's keys)."""
    return {id(p): f"{g}.{i}" for g, group in enumerate(opt.param_groups) for i, p in enumerate(group["params"])}
