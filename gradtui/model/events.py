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
from typing import ClassVar, Literal, TypeAlias, TypeGuard, get_args

from gradtui.model.quick_init import quick_init
from gradtui.model.tensors import TensorSummary
from gradtui.model.variables import ScopeDelta

#: A value in optimizer state or hyperparameters: a tensor, a number, or for
#: hyperparameters also a flag, a tuple (Adam's betas) or None.
StateValue = TensorSummary | float | int | bool | None
HyperValue = float | int | bool | str | None | tuple[object, ...]
#: The streams a script writes to, as ``OutputWritten.stream`` names them.
STREAMS = ("stdout", "stderr")
#: ``ModeSet.mode``: a module's two modes, then the three grad modes.
MODES = ("train", "eval", "grad", "no_grad", "inference")
#: ``GradHooked.where``: what kind of hook ran.
HOOK_PLACES = ("tensor", "module", "module_pre", "post_accumulate")


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


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBase:
    """Common fields: position in the timeline and the script line that caused it.

    Every field an event kind declares is required, given by keyword: a default exists
    only where it is a true value (no notes, a backward that ran no node), so an event
    the engine forgot to fill in cannot be built. Annotate with ``Event``, the union of
    the kinds, so that a ``match`` over it is checked for exhaustiveness.
    """

    kind: ClassVar[str] = "event"
    #: Kinds that change gradients or parameters: what ``e`` / "next event" stops on.
    is_milestone: ClassVar[bool] = False

    seq: int
    file: str
    line: int
    #: Plain sentences about what went wrong or deserves a look (``gradtui.engine.notes``).
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # One comparison per event: they are built ~100k times a second while a script runs.
        if self.seq < 0 or self.line < 0:
            raise ValueError(f"{type(self).__name__}: seq and line count from 0 (got {self.seq} and {self.line})")


@dataclass(frozen=True, slots=True, kw_only=True)
class LineReached(EventBase):
    """The script is about to run ``line`` of its own code (in ``function``)."""

    kind: ClassVar[Literal["line"]] = "line"

    function: str
    #: The frame's variables as far as they changed since its last line (None: not recorded).
    scope: ScopeDelta | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OpCalled(EventBase):
    """One tensor operation called from the script's own code, and what it returned."""

    kind: ClassVar[Literal["op"]] = "op"

    op: str
    grad_fn: str | None
    grad_enabled: bool
    #: The arguments as the script wrote them: tensors by name, numbers by value.
    args: tuple[str, ...]
    output: TensorSummary | None
    #: The output's ``grad_fn`` in the timeline's node table (``Timeline.graph``), or None.
    graph: int | None
    #: The dtype ``torch.autocast`` ran the op in (``bfloat16``), when an autocast region was active.
    autocast: str | None = None
    #: Run under ``torch.inference_mode()``: no graph, and its outputs can never join one.
    inference: bool = False


@dataclass(frozen=True, slots=True)
class NodeRun:
    """One node of a backward pass as torch ran it: the gradient it received, those it sent.

    ``id`` is the node in the timeline's graph table. ``grad_in`` holds the gradients
    flowing into the node (one per output of the forward op); ``grad_out`` those it
    passes on to its inputs, in ``next_functions`` order (``None`` where nothing flows).
    """

    id: int
    name: str
    grad_in: tuple[TensorSummary | None, ...]
    grad_out: tuple[TensorSummary | None, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackwardDone(EventBase):
    """``backward()`` ran from ``root``; every leaf it reached, with ``.grad`` before/after."""

    kind: ClassVar[Literal["backward"]] = "backward"
    is_milestone: ClassVar[bool] = True

    root: str
    #: The loss the script computed: for a root that ``GradScaler.scale`` returned, the
    #: root's value divided by ``loss_scale``, the factor the scaler multiplied it by.
    loss: float | None
    loss_scale: float | None
    grads: Mapping[str, Change]
    #: The root's ``grad_fn`` in the timeline's node table, taken before backward ran.
    graph: int | None
    #: Every node the pass ran, in the order torch ran them.
    nodes: tuple[NodeRun, ...] = ()
    #: ``backward(inputs=[...])``: the only tensors whose ``.grad`` it may write (none: all leaves).
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GradComputed(EventBase):
    """``torch.autograd.grad(outputs, inputs)``: the gradients it returned, ``.grad`` untouched.

    ``results`` has one entry per input, in order (``None`` for an input the outputs do
    not depend on, with ``allow_unused``). ``graph`` is the first output's ``grad_fn`` in
    the node table; ``result_graphs`` the results' own ``grad_fn`` (``create_graph``: a
    gradient that is itself differentiable, as in a gradient penalty).
    """

    kind: ClassVar[Literal["grad"]] = "grad"
    is_milestone: ClassVar[bool] = True

    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    #: The ``grad_outputs`` given, by name; empty when none were (ones for a scalar).
    grad_outputs: tuple[str, ...]
    results: tuple[TensorSummary | None, ...]
    create_graph: bool
    retain_graph: bool
    allow_unused: bool
    graph: int | None
    result_graphs: tuple[int | None, ...] = ()
    nodes: tuple[NodeRun, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GradHooked(EventBase):
    """A hook the script registered ran during backward; ``before``/``after`` are the gradients it saw and left.

    ``where``: ``tensor`` (``t.register_hook``), ``module`` (``register_full_backward_hook``,
    the gradients with respect to the module's inputs), ``module_pre``
    (``register_full_backward_pre_hook``, its outputs') or ``post_accumulate``
    (``register_post_accumulate_grad_hook``: the leaf's ``.grad`` once written). ``after``
    equals ``before`` when the hook returned ``None`` and changed nothing in place.
    ``node`` is the graph node the hook belongs to, when it has one.
    """

    kind: ClassVar[Literal["hook"]] = "hook"
    is_milestone: ClassVar[bool] = True

    hook: str
    target: str
    where: str
    before: tuple[TensorSummary | None, ...]
    after: tuple[TensorSummary | None, ...]
    changed: bool
    node: int | None = None

    def __post_init__(self) -> None:
        EventBase.__post_init__(self)
        if self.where not in HOOK_PLACES:
            raise ValueError(f"GradHooked: where is one of {', '.join(HOOK_PLACES)} (got {self.where!r})")


@dataclass(frozen=True, slots=True, kw_only=True)
class GradsClipped(EventBase):
    """``clip_grad_norm_`` / ``clip_grad_value_`` / ``clip_grads_with_norm_``: each ``.grad`` before/after.

    ``max`` is ``max_norm`` (or ``clip_value``); ``total_norm`` the norm of all the
    gradients together, as torch returned (or was given) it, ``None`` for clipping by
    value; ``coef`` the factor the gradients were multiplied by (``max / (total_norm +
    1e-6)`` clamped to 1), ``None`` for clipping by value. ``clipped``: a gradient changed.
    """

    kind: ClassVar[Literal["clip"]] = "clip"
    is_milestone: ClassVar[bool] = True

    function: str
    max: float
    norm_type: float | None
    total_norm: float | None
    coef: float | None
    clipped: bool
    grads: Mapping[str, Change]


@dataclass(frozen=True, slots=True, kw_only=True)
class GradsUnscaled(EventBase):
    """``GradScaler.unscale_(optimizer)`` (explicit, or inside ``scaler.step``): grads divided by ``scale``.

    ``found_inf``: an unscaled gradient was inf or NaN, so the scaler's step will skip
    ``optimizer.step()`` and lower the scale.
    """

    kind: ClassVar[Literal["unscale"]] = "unscale"
    is_milestone: ClassVar[bool] = True

    scaler: Owner
    optimizer: Owner
    scale: float
    found_inf: bool
    grads: Mapping[str, Change]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleUpdated(EventBase):
    """``GradScaler.update()``: the loss scale before and after (halved after inf, grown after a streak)."""

    kind: ClassVar[Literal["scale"]] = "scale"

    scaler: Owner
    before: float
    after: float
    found_inf: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LrScheduled(EventBase):
    """``scheduler.step()`` of any ``torch.optim.lr_scheduler`` class: each group's lr before and after.

    One event too for a constructor that moves the lr (``constructed``). ``changes`` holds,
    per parameter group, the other hyperparameters the scheduler moved
    (``OneCycleLR`` cycles ``momentum`` or ``betas`` too), as ``(before, after)``.
    """

    kind: ClassVar[Literal["schedule"]] = "schedule"
    is_milestone: ClassVar[bool] = True

    scheduler: Owner
    optimizer: Owner
    lrs: tuple[tuple[float | None, float | None], ...]
    changes: tuple[Mapping[str, tuple[HyperValue, HyperValue]], ...] = ()
    #: The scheduler's constructor set the lr (``OneCycleLR`` starts at ``max_lr / 25``), not
    #: a ``step()`` of the script's; a constructor that changes nothing is no event.
    constructed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeSet(EventBase):
    """The script switched a mode: ``model.train()`` / ``model.eval()``, or grad mode.

    ``target`` is the module's name (``net``) for ``train`` / ``eval``, and ``grad`` for
    the grad modes ``grad`` (``enable_grad``, leaving ``no_grad``), ``no_grad`` and
    ``inference`` (``torch.inference_mode()``). ``cls`` is the module's class, or ``""``.
    """

    kind: ClassVar[Literal["mode"]] = "mode"

    target: str
    cls: str
    mode: str

    def __post_init__(self) -> None:
        EventBase.__post_init__(self)
        if self.mode not in MODES:
            raise ValueError(f"ModeSet: mode is one of {', '.join(MODES)} (got {self.mode!r})")


@dataclass(frozen=True, slots=True, kw_only=True)
class GradsZeroed(EventBase):
    """``zero_grad()`` of an optimizer or module: each parameter's ``.grad`` before/after."""

    kind: ClassVar[Literal["zero_grad"]] = "zero_grad"
    is_milestone: ClassVar[bool] = True

    optimizer: Owner
    grads: Mapping[str, Change]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepTaken(EventBase):
    """``optimizer.step()``: hyperparameters, each parameter before/after, state after."""

    kind: ClassVar[Literal["step"]] = "step"
    is_milestone: ClassVar[bool] = True

    optimizer: Owner
    hyperparams: tuple[Mapping[str, HyperValue], ...]
    params: Mapping[str, Change]
    state: Mapping[str, Mapping[str, StateValue]]
    #: ``‖after − before‖`` of parameters whose values are not kept (statistics only), as
    #: the engine measured them; the recording's step summaries read it. Not part of the
    #: version-1 JSON format, so it defaults to none (a step loaded from such a file).
    update_norms: Mapping[str, float] = field(default_factory=dict)
    #: Why the optimizer did not update (``GradScaler`` found inf/NaN gradients), or None.
    #: A skipped step's parameters are the same before and after.
    skipped: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamsUpdated(EventBase):
    """The script's own code changed parameters in place: ``a -= lr * a.grad``, ``p.sub_(…)``.

    A parameter is a leaf tensor that requires grad; the change is one in-place operation
    made outside an optimizer's ``step()`` and ``zero_grad()`` (which have their events).
    ``op`` is the operator as written (``-=``, ``*=``, ``[]=``) or the method's name
    (``sub_``, ``copy_``, ``_foreach_sub_``); ``args`` as for ``op`` events. ``through_data``:
    written through ``p.data``, which autograd does not see (grad mode may then be on).
    """

    kind: ClassVar[Literal["update"]] = "update"
    is_milestone: ClassVar[bool] = True

    op: str
    args: tuple[str, ...]
    grad_enabled: bool
    through_data: bool
    params: Mapping[str, Change]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputWritten(EventBase):
    """Text the script wrote to ``stdout`` or ``stderr`` (a line, or what preceded an event)."""

    kind: ClassVar[Literal["output"]] = "output"

    stream: str
    text: str

    def __post_init__(self) -> None:
        EventBase.__post_init__(self)
        if self.stream not in STREAMS:
            raise ValueError(f"OutputWritten: stream is one of {', '.join(STREAMS)} (got {self.stream!r})")


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRaised(EventBase):
    """An exception left the script; ``line`` is where it was raised in the script's code."""

    kind: ClassVar[Literal["error"]] = "error"

    type: str
    message: str
    #: The traceback as Python prints it, with only the script's (and libraries') frames.
    traceback: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueWatched(EventBase):
    """A variable the user asked to watch (``--watch NAME``) took a new value at ``line``.

    Recorded when the value changes, for numbers and one-element tensors; it lets the
    app plot a script that never calls backward (plain-Python gradient descent).
    """

    kind: ClassVar[Literal["watch"]] = "watch"

    name: str
    value: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReviewed(EventBase):
    """What can only be said once the run is over, as ``notes`` (a parameter that never got a gradient).

    Emitted after the script's last line, output and watched values, and before the
    ``error`` event if there is one; only when there is a note. ``file`` and ``line`` are
    where the script was when it ended.
    """

    kind: ClassVar[Literal["review"]] = "review"


@dataclass(frozen=True, slots=True, kw_only=True)
class DetailDropped(EventBase):
    """Events ``first`` to ``last`` (``seq`` among them) were not kept, only their steps' summaries.

    A recording made with ``--keep-steps N`` keeps every line, op and tensor of its last N
    optimizer steps and of the steps around each stop (a note, an error, a pause), and of
    the others only one summary row each (loss, learning rates, norms). Reading any
    position in such a stretch gives this event, for ``seq`` that position; ``first_step``
    to ``last_step`` are the optimizer steps whose detail went. ``file`` and ``line`` are
    those of the stretch's first event.
    """

    kind: ClassVar[Literal["dropped"]] = "dropped"

    first: int
    last: int
    first_step: int
    last_step: int


#: Every kind of event. A consumer that dispatches on the kind matches on this union and
#: ends with ``case _: assert_never(event)``, so mypy names it when a kind is added.
Event: TypeAlias = (LineReached | OpCalled | BackwardDone | GradsZeroed | StepTaken | ParamsUpdated | OutputWritten
                    | ErrorRaised | ValueWatched | RunReviewed | DetailDropped | GradComputed | GradHooked
                    | GradsClipped | GradsUnscaled | ScaleUpdated | LrScheduled | ModeSet)

#: The JSON ``kind`` of each member of ``Event``, in the same order.
EventKind: TypeAlias = Literal["line", "op", "backward", "zero_grad", "step", "update", "output", "error", "watch",
                               "review", "dropped", "grad", "hook", "clip", "unscale", "scale", "schedule", "mode"]

#: The class of each JSON ``kind``.
EVENT_TYPES: dict[str, type[Event]] = {cls.kind: cls for cls in get_args(Event)}

# The engine builds every event, and many changes and owners, in the script's thread.
for _cls in (Change, Owner, *EVENT_TYPES.values()):
    quick_init(_cls)
del _cls


def kind_of(event: Event) -> EventKind:
    """``event.kind``, typed: mypy refuses this line when a kind is missing from ``EventKind``."""
    return event.kind


def is_kind(name: str) -> TypeGuard[EventKind]:
    """Whether ``name`` is the JSON ``kind`` of an event (a reader ``match``es on it then)."""
    return name in EVENT_TYPES
