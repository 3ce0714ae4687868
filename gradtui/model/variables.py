"""The script's variables as the timeline keeps them: one ``Var`` tree per value.

The variables panel, the tensor detail view and the evaluation prompt all show values
of the paused script; a replay shows them without torch. So a value is kept as a small
tree of plain data: a tensor's summary and the autograd facts a learner asks about
(``is_leaf``, ``grad_fn``, ``.grad``, ``_version``), a module's parameters and buffers,
an optimizer's groups and state, a container's first items. Each line event
(``LineReached.scope``, a ``ScopeDelta``) carries the bindings its frame changed;
``gradtui.model.scopes`` folds them back into the variables at any event. This module
must not import torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gradtui.model.quick_init import quick_init
from gradtui.model.tensors import TensorSummary

#: ``Var.role``: how the panel draws the value and what it opens into.
ROLES = ("tensor", "module", "optimizer", "scheduler", "number", "text", "container", "object")
#: A container or an object shows at most this many members (``Var.length`` says how many it has).
MAX_MEMBERS = 16
#: A module shows at most this many parameters and buffers.
MAX_MODULE_MEMBERS = 256


@quick_init
@dataclass(frozen=True, slots=True)
class TensorFacts:
    """What a tensor is beyond its values: where it lives and how autograd sees it."""

    value: TensorSummary
    device: str
    is_leaf: bool
    #: ``t._version``: how many in-place writes it has had (None under inference mode).
    version: int | None
    #: ``t.grad``: None until a backward pass wrote it (always None for a non-leaf without retain_grad).
    grad: TensorSummary | None
    #: Its ``grad_fn`` in the timeline's node table, where the graph recorded it.
    node: int | None = None
    #: Whether ``retain_grad()`` was called on it (a non-leaf that keeps its ``.grad``).
    retains_grad: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class Var:
    """One value: its type, a one-line text, and what it opens into.

    ``text`` is the number's or string's repr, a scheduler's last lr, a module's mode;
    for a tensor it is empty (``tensor`` holds the facts). ``members`` are a module's
    parameters and buffers, an optimizer's groups and state, a container's items, by
    the name the script would write (``0.weight``, ``[1]``, ``'lr'``).
    """

    role: str
    type: str
    text: str = ""
    tensor: TensorFacts | None = None
    members: tuple[tuple[str, Var], ...] = ()
    #: How many members the value has, where more than ``members`` holds (a long list).
    length: int | None = None

    def member(self, name: str) -> Var | None:
        for key, value in self.members:
            if key == name:
                return value
        return None


@quick_init
@dataclass(frozen=True, slots=True)
class Refreshed:
    """A module's or optimizer's value at a line where only the states of its tensors changed.

    A training step writes every parameter's ``.grad`` (backward), then every parameter
    and its optimizer state (``step``), then clears the grads (``zero_grad``): the model and
    the optimizer are new values at three lines of every step, and describing them anew
    was most of what a recording built per step (138 of the 198 objects of the benchmark
    MLP's step), copies of summaries the step's own events already carry. A refresh is the
    earlier description (``template``: the same members, types, texts and autograd facts)
    and, per tensor in it, its value, ``_version`` and ``.grad`` now: two objects where
    there were dozens, and the summaries are the ones the events hold. ``var`` makes the
    full value; a reader never sees the difference (``resolved``), and a recording on disk
    holds full values only (its writer resolves them).
    """

    template: Var
    #: ``value, version, grad`` of each tensor of ``template``, flat: depth first, in member order.
    states: tuple[Any, ...]

    def var(self) -> Var:
        states = iter(self.states)
        return _filled(self.template, states)


def _filled(var: Var, states: Iterator[Any]) -> Var:
    facts = var.tensor
    if facts is not None:
        return Var(var.role, var.type, var.text,
                   TensorFacts(next(states), facts.device, facts.is_leaf, next(states), next(states),
                               facts.node, facts.retains_grad),
                   var.members, var.length)
    if not var.members:
        return var
    return Var(var.role, var.type, var.text, None,
               tuple((name, _filled(member, states)) for name, member in var.members), var.length)


def resolved(value: Var | Refreshed) -> Var:
    """The full value a delta holds for a name (a refresh made whole)."""
    return value.var() if isinstance(value, Refreshed) else value


@quick_init
@dataclass(frozen=True, slots=True)
class FrameRef:
    """One frame of the script's call stack: ``frame`` numbers it within the run."""

    frame: int
    function: str
    file: str
    line: int


@quick_init
@dataclass(frozen=True, slots=True)
class ScopeDelta:
    """What a line event knows of its frame's variables: those bound or changed since the last look.

    Carried by ``LineReached.scope``: before a line runs, the engine compares the frame's
    variables with what it recorded there last (the lines in between changed them) and
    keeps only the differences. Every ``KEYFRAME_EVERY``-th delta of a frame, and its
    first, is ``full``: it holds every variable, so that a reader folds at most that many
    deltas back along ``since`` to know them all at any event.
    """

    #: The frame, numbered from 1 in the order the run entered them.
    frame: int
    #: The seq of the frame's previous line event whose delta changed something (or was full);
    #: None for the frame's first. A full delta keeps it too, so that a variable's history
    #: can be followed past it; a reader folding values stops at the full delta.
    since: int | None
    #: A module or optimizer whose tensors alone changed is a ``Refreshed``: read through ``resolved``.
    changed: Mapping[str, Var | Refreshed]
    gone: tuple[str, ...] = ()
    full: bool = False
    #: On a full delta: the frames that called this one, innermost first (fixed for its life).
    callers: tuple[FrameRef, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changed and not self.gone and not self.full


#: A frame's deltas are full every this many changes, bounding how far a reader folds back.
KEYFRAME_EVERY = 32
