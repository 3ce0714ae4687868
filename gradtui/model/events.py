"""The events of a timeline: one immutable record per thing the script did.

The engine creates them in the script's thread and hands them to whoever drives it (the
TUI posts them across threads, ``--trace`` prints them), so they are frozen and hold
only model values: names, numbers and ``TensorSummary`` objects, never live tensors.
Field names are those of the JSON format (docs/timeline-format.md); ``kind`` is the
JSON ``kind``. This module must not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from gradtui.model.tensors import TensorSummary

#: A value in optimizer state or hyperparameters: a tensor, a number, or for
#: hyperparameters also a flag, a tuple (Adam's betas) or None.
StateValue = TensorSummary | float | int | bool | None
HyperValue = float | int | bool | str | None | tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """A tensor before and after an event; ``None`` where it was ``None`` (never zero)."""

    before: TensorSummary | None
    after: TensorSummary | None


@dataclass(frozen=True, slots=True)
class Owner:
    """The object an event happened to: its name in the script and its class."""

    name: str
    cls: str


@dataclass(frozen=True, slots=True)
class Event:
    """Common fields: position in the timeline and the script line that caused it."""

    kind: ClassVar[str] = "event"
    #: Kinds that change gradients or parameters: what ``e`` / "next event" stops on.
    is_milestone: ClassVar[bool] = False

    seq: int
    file: str
    line: int
    #: Plain sentences about what went wrong or deserves a look (``gradtui.engine.notes``).
    notes: tuple[str, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True, slots=True)
class LineReached(Event):
    """The script is about to run ``line`` of its own code (in ``function``)."""

    kind: ClassVar[str] = "line"

    function: str = "<module>"


@dataclass(frozen=True, slots=True)
class OpCalled(Event):
    """One tensor operation called from the script's own code, and what it returned."""

    kind: ClassVar[str] = "op"

    op: str = ""
    grad_fn: str | None = None
    grad_enabled: bool = True
    #: The arguments as the script wrote them: tensors by name, numbers by value.
    args: tuple[str, ...] = ()
    output: TensorSummary | None = None
    #: The output's ``grad_fn`` in the timeline's node table (``Timeline.graph``), or None.
    graph: int | None = None


@dataclass(frozen=True, slots=True)
class NodeRun:
    """One node of a backward pass as torch ran it: the gradient it received, those it sent.

    ``id`` is the node in the timeline's graph table. ``grad_in`` holds the gradients
    flowing into the node (one per output of the forward op); ``grad_out`` those it
    passes on to its inputs, in ``next_functions`` order (``None`` where nothing flows).
    """

    id: int
    name: str
    grad_in: tuple[TensorSummary | None, ...] = ()
    grad_out: tuple[TensorSummary | None, ...] = ()


@dataclass(frozen=True, slots=True)
class BackwardDone(Event):
    """``backward()`` ran from ``root``; every leaf it reached, with ``.grad`` before/after."""

    kind: ClassVar[str] = "backward"
    is_milestone: ClassVar[bool] = True

    root: str = ""
    #: The loss the script computed: for a root that ``GradScaler.scale`` returned, the
    #: root's value divided by ``loss_scale``, the factor the scaler multiplied it by.
    loss: float | None = None
    loss_scale: float | None = None
    grads: Mapping[str, Change] = None  # type: ignore[assignment]
    #: The root's ``grad_fn`` in the timeline's node table, taken before backward ran.
    graph: int | None = None
    #: Every node the pass ran, in the order torch ran them.
    nodes: tuple[NodeRun, ...] = ()


@dataclass(frozen=True, slots=True)
class GradsZeroed(Event):
    """``zero_grad()`` of an optimizer or module: each parameter's ``.grad`` before/after."""

    kind: ClassVar[str] = "zero_grad"
    is_milestone: ClassVar[bool] = True

    optimizer: Owner = Owner("", "")
    grads: Mapping[str, Change] = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class StepTaken(Event):
    """``optimizer.step()``: hyperparameters, each parameter before/after, state after."""

    kind: ClassVar[str] = "step"
    is_milestone: ClassVar[bool] = True

    optimizer: Owner = Owner("", "")
    hyperparams: tuple[Mapping[str, HyperValue], ...] = ()
    params: Mapping[str, Change] = None  # type: ignore[assignment]
    state: Mapping[str, Mapping[str, StateValue]] = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ParamsUpdated(Event):
    """The script's own code changed parameters in place: ``a -= lr * a.grad``, ``p.sub_(…)``.

    A parameter is a leaf tensor that requires grad; the change is one in-place operation
    made outside an optimizer's ``step()`` and ``zero_grad()`` (which have their events).
    ``op`` is the operator as written (``-=``, ``*=``, ``[]=``) or the method's name
    (``sub_``, ``copy_``, ``_foreach_sub_``); ``args`` as for ``op`` events. ``through_data``:
    written through ``p.data``, which autograd does not see (grad mode may then be on).
    """

    kind: ClassVar[str] = "update"
    is_milestone: ClassVar[bool] = True

    op: str = ""
    args: tuple[str, ...] = ()
    grad_enabled: bool = False
    through_data: bool = False
    params: Mapping[str, Change] = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class OutputWritten(Event):
    """Text the script wrote to ``stdout`` or ``stderr`` (a line, or what preceded an event)."""

    kind: ClassVar[str] = "output"

    stream: str = "stdout"
    text: str = ""


@dataclass(frozen=True, slots=True)
class ErrorRaised(Event):
    """An exception left the script; ``line`` is where it was raised in the script's code."""

    kind: ClassVar[str] = "error"

    type: str = ""
    message: str = ""
    #: The traceback as Python prints it, with only the script's (and libraries') frames.
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class ValueWatched(Event):
    """A variable the user asked to watch (``--watch NAME``) took a new value at ``line``.

    Recorded when the value changes, for numbers and one-element tensors; it lets the
    app plot a script that never calls backward (plain-Python gradient descent).
    """

    kind: ClassVar[str] = "watch"

    name: str = ""
    value: float | None = None


@dataclass(frozen=True, slots=True)
class RunReviewed(Event):
    """What can only be said once the run is over, as ``notes`` (a parameter that never got a gradient).

    Emitted after the script's last line, output and watched values, and before the
    ``error`` event if there is one; only when there is a note. ``file`` and ``line`` are
    where the script was when it ended.
    """

    kind: ClassVar[str] = "review"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (LineReached, OpCalled, BackwardDone, GradsZeroed, StepTaken, ParamsUpdated, OutputWritten, ErrorRaised,
                ValueWatched, RunReviewed)
}
