"""What makes an event of one run the same event as one of another, and how their values differ.

Two events match when their *keys* are equal: the kind, the place of their line
(``gradtui.model.run_places``) and what they are about (the op, the optimizer, the
scheduler, the watched name). Values are no part of the key: two matched events are
then compared value by value (``value_gap``) within a ``Tolerance``.

Not every event takes part. Output is left out: an added ``print`` or a printed number's
last digit is no difference in the training. So are the run's review and the stretches a
``--keep-steps`` recording dropped (the comparison stops there). On a line only one run
has, only the events that change gradients, parameters or the lr count (an added
``clip_grad_norm_`` is a difference; an added ``print(loss.item())`` is not).
Must not import torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import assert_never

from gradtui.model.events import (
    BackwardDone,
    Change,
    DetailDropped,
    ErrorRaised,
    Event,
    GradComputed,
    GradHooked,
    GradsClipped,
    GradsUnscaled,
    GradsZeroed,
    LineReached,
    LrScheduled,
    ModeSet,
    OpCalled,
    OutputWritten,
    ParamsUpdated,
    RunReviewed,
    ScaleUpdated,
    StepTaken,
    ValueWatched,
)
from gradtui.model.formatting import format_number
from gradtui.model.run_places import Place
from gradtui.model.tensors import TensorSummary
from gradtui.model.tolerance import Gap, Tolerance, number_gap, tensor_gap

#: Kinds never compared: what the script printed, and the run's closing review.
IGNORED_KINDS = frozenset({"output", "review"})
#: Kinds skipped on a line only one run has; every other kind counts there as a difference.
INCIDENTAL_KINDS = frozenset({"line", "op"})

Key = tuple[str, Place | None, str]


def takes_part(event: Event, place: Place | None) -> bool:
    """Whether the comparison looks at ``event`` (at ``place``, None: a line of its run only)."""
    if event.kind in IGNORED_KINDS:
        return False
    return place is not None or event.kind not in INCIDENTAL_KINDS


def key(event: Event, place: Place | None) -> Key:
    return (event.kind, place, subject(event))


def subject(event: Event) -> str:
    """What the event is about, as part of its key: ``opt`` for a step, ``mul`` for an op."""
    match event:
        case LineReached():
            return event.function
        case OpCalled():
            return event.op
        case BackwardDone() | DetailDropped() | RunReviewed() | OutputWritten():
            return ""
        case GradComputed():
            return str(len(event.inputs))
        case GradHooked():
            return f"{event.where} {event.target}"
        case GradsClipped():
            return event.function
        case GradsUnscaled() | ScaleUpdated():
            return event.scaler.name
        case LrScheduled():
            return event.scheduler.name
        case ModeSet():
            return f"{event.target} {event.mode}"
        case GradsZeroed() | StepTaken():
            return event.optimizer.name
        case ParamsUpdated():
            return ",".join(sorted(event.params))
        case ErrorRaised():
            return event.type
        case ValueWatched():
            return event.name
        case _:
            assert_never(event)


def phrase(event: Event) -> str:
    """A few words naming the event in a sentence: ``opt.step()``, ``op mul``, ``backward of loss``."""
    match event:
        case LineReached():
            return f"line {event.line}"
        case OpCalled():
            return f"op {event.op} at line {event.line}"
        case BackwardDone():
            return f"{event.root}.backward() at line {event.line}"
        case GradComputed():
            return f"autograd.grad at line {event.line}"
        case GradHooked():
            return f"hook {event.hook} on {event.target}"
        case GradsClipped():
            return f"{event.function} at line {event.line}"
        case GradsUnscaled():
            return f"{event.scaler.name}.unscale_ at line {event.line}"
        case ScaleUpdated():
            return f"{event.scaler.name}.update() at line {event.line}"
        case LrScheduled():
            return f"{event.scheduler.name}.step() at line {event.line}"
        case ModeSet():
            return f"{event.target} {event.mode} at line {event.line}"
        case GradsZeroed():
            return f"{event.optimizer.name}.zero_grad() at line {event.line}"
        case StepTaken():
            return f"{event.optimizer.name}.step() at line {event.line}"
        case ParamsUpdated():
            return f"update {event.op} of {', '.join(event.params)} at line {event.line}"
        case ErrorRaised():
            return f"{event.type} at line {event.line}"
        case ValueWatched():
            return f"watched {event.name} at line {event.line}"
        case OutputWritten():
            return f"output at line {event.line}"
        case RunReviewed():
            return "the run's review"
        case DetailDropped():
            return "a stretch whose detail was not kept"
        case _:
            assert_never(event)


def value_gap(a: Event, b: Event, tol: Tolerance) -> tuple[str, Gap] | None:
    """The first recorded value two matched events differ in, named (``theta.grad``), or None."""
    for name, gap in _gaps(a, b, tol):
        return name, gap
    return None


def _gaps(a: Event, b: Event, tol: Tolerance) -> Iterator[tuple[str, Gap]]:
    if isinstance(a, OpCalled) and isinstance(b, OpCalled):
        yield from _one("output", tensor_gap(a.output, b.output, tol))
        yield from _one("grad_fn", number_gap(a.grad_fn, b.grad_fn, tol))
        yield from _one("grad mode", number_gap(a.grad_enabled, b.grad_enabled, tol))
        yield from _one("autocast", number_gap(a.autocast, b.autocast, tol))
    elif isinstance(a, BackwardDone) and isinstance(b, BackwardDone):
        yield from _one("loss", number_gap(a.loss, b.loss, tol))
        yield from _changes(a.grads, b.grads, tol, ".grad")
        yield from _one("loss scale", number_gap(a.loss_scale, b.loss_scale, tol))
    elif isinstance(a, GradComputed) and isinstance(b, GradComputed):
        for i, (x, y) in enumerate(zip(a.results, b.results)):
            yield from _one(f"gradient {i + 1} of autograd.grad", tensor_gap(x, y, tol))
    elif isinstance(a, GradHooked) and isinstance(b, GradHooked):
        for x, y in zip(a.after, b.after):
            yield from _one(f"what hook {a.hook} left", tensor_gap(x, y, tol))
    elif isinstance(a, GradsClipped) and isinstance(b, GradsClipped):
        yield from _one("total norm", number_gap(a.total_norm, b.total_norm, tol))
        yield from _changes(a.grads, b.grads, tol, ".grad")
    elif isinstance(a, GradsUnscaled) and isinstance(b, GradsUnscaled):
        yield from _one("scale", number_gap(a.scale, b.scale, tol))
        yield from _changes(a.grads, b.grads, tol, ".grad")
    elif isinstance(a, ScaleUpdated) and isinstance(b, ScaleUpdated):
        yield from _one("scale after update", number_gap(a.after, b.after, tol))
    elif isinstance(a, LrScheduled) and isinstance(b, LrScheduled):
        for i, ((_, lr_a), (_, lr_b)) in enumerate(zip(a.lrs, b.lrs)):
            yield from _one(f"lr of group {i}", number_gap(lr_a, lr_b, tol))
    elif isinstance(a, GradsZeroed) and isinstance(b, GradsZeroed):
        yield from _changes(a.grads, b.grads, tol, ".grad")
    elif isinstance(a, StepTaken) and isinstance(b, StepTaken):
        yield from _one("skipped", number_gap(a.skipped, b.skipped, tol))
        yield from _changes(a.params, b.params, tol, "")
        for name in sorted(set(a.state) | set(b.state)):
            sa, sb = a.state.get(name, {}), b.state.get(name, {})
            for k in sorted(set(sa) | set(sb)):
                va, vb = sa.get(k), sb.get(k)
                if isinstance(va, TensorSummary) or isinstance(vb, TensorSummary):
                    gap = tensor_gap(va if isinstance(va, TensorSummary) else None,
                                     vb if isinstance(vb, TensorSummary) else None, tol)
                else:
                    gap = number_gap(va, vb, tol)
                yield from _one(f"optimizer state {name}[{k}]", gap)
    elif isinstance(a, ParamsUpdated) and isinstance(b, ParamsUpdated):
        yield from _changes(a.params, b.params, tol, "")
    elif isinstance(a, ValueWatched) and isinstance(b, ValueWatched):
        yield from _one(a.name, number_gap(a.value, b.value, tol))
    elif isinstance(a, ErrorRaised) and isinstance(b, ErrorRaised):
        yield from _one("the error's message", number_gap(a.message, b.message, tol))


def _one(name: str, gap: Gap | None) -> Iterator[tuple[str, Gap]]:
    if gap is not None:
        yield name, gap


def _changes(a: Mapping[str, Change], b: Mapping[str, Change], tol: Tolerance,
             suffix: str) -> Iterator[tuple[str, Gap]]:
    for name in a:
        if name not in b:
            yield f"{name}{suffix}", Gap("recorded in run A only", None)
            continue
        yield from _one(f"{name}{suffix}", tensor_gap(a[name].after, b[name].after, tol))
    for name in b:
        if name not in a:
            yield f"{name}{suffix}", Gap("recorded in run B only", None)


def hyper_gaps(a: StepTaken, b: StepTaken, tol: Tolerance) -> list[str]:
    """``lr 0.1 vs 0.01``: the hyperparameters two matched steps ran with where they differ."""
    out: list[str] = []
    for i, (ga, gb) in enumerate(zip(a.hyperparams, b.hyperparams)):
        # Keys of one class only (Adam's betas against SGD's momentum) say nothing beyond the class.
        for k in sorted(set(ga) & set(gb) if a.optimizer.cls != b.optimizer.cls else set(ga) | set(gb)):
            if k == "params":
                continue
            gap = number_gap(ga.get(k), gb.get(k), tol)
            if gap is not None:
                group = f" (group {i})" if len(a.hyperparams) > 1 else ""
                out.append(f"{k}{group} {gap.text}")
    if a.optimizer.cls != b.optimizer.cls:
        out.insert(0, f"{a.optimizer.cls} vs {b.optimizer.cls}")
    return out


def loss_text(value: float | None) -> str:
    return "none" if value is None else format_number(value)
