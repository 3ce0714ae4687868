"""One plain sentence about an event, for the status line: what it did, in a learner's words.

``describe`` covers every kind of event; ``describe_node`` and ``describe_flow`` a node
of a backward pass. Pure functions of model values: no torch, no textual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import assert_never

from gradtui.model.cells import place
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
    HyperValue,
    LineReached,
    LrScheduled,
    ModeSet,
    NodeRun,
    OpCalled,
    OutputWritten,
    ParamsUpdated,
    RunReviewed,
    ScaleUpdated,
    StepTaken,
    ValueWatched,
)
from gradtui.model.formatting import (
    ARROW,
    MODE_WORDS,
    clip_text,
    dropped_text,
    format_number,
    format_tensor,
    group_lrs,
    schedule_text,
    update_call,
)
from gradtui.model.history import last_index
from gradtui.model.tensors import TensorSummary

ELLIPSIS = "…"
#: Printed text is cut to this many characters in ``describe``.
OUTPUT_CHARS = 60


def describe_flow(run: NodeRun) -> str:
    """What flowed through one node: ``received 1, sent [[0.25, 0.25], [0.25, 0.25]]``."""
    received = ", ".join(format_tensor(g) for g in run.grad_in) or "nothing"
    if not run.grad_out:
        return f"received {received}"
    return f"received {received}, sent {', '.join(format_tensor(g) for g in run.grad_out)}"


def describe_node(event: BackwardDone | GradComputed, index: int, variable: str | None = None) -> str:
    """The sentence for node ``index`` of a backward pass, for the status line."""
    run = event.nodes[index]
    if run.name == "AccumulateGrad":
        leaf = variable or "the leaf"
        received = format_tensor(run.grad_in[0]) if run.grad_in else "nothing"
        grads = event.grads if isinstance(event, BackwardDone) else {}
        change = grads.get(variable) if variable is not None and grads else None
        how = ""
        if change is not None:
            how = " (set from None)" if change.before is None else f" (added to {format_tensor(change.before)})"
        return f"AccumulateGrad writes {received} into {leaf}.grad{how}"
    return f"{run.name} {describe_flow(run)}"


def _more(changes: Mapping[str, Change]) -> str:
    return f", and {len(changes) - 1} more" if len(changes) > 1 else ""


def _grad_note(before: TensorSummary | None) -> str:
    if before is None:
        return "the first gradient"
    # A tensor over --max-values keeps statistics only: min == max == 0 says it is zero
    # just as well (what zero_grad(set_to_none=False) leaves).
    if before.numel > 0 and before.is_all_zero():
        return "added to the old value, which was zero"
    if before.values is None and before.stats is None:
        return "added to the old value"  # nothing kept to tell whether it was reset
    return "added to the old value; nothing reset it"


def _describe_backward(event: BackwardDone) -> str:
    head = "backward()"
    if event.root:
        head += f" from {event.root}"
    if event.loss is not None and event.loss_scale is not None:
        head += (f" (loss={format_number(event.loss)}, scaled by {format_number(event.loss_scale)} for backward,"
                 " and so are the gradients)")
    elif event.loss is not None:
        head += f" (loss={format_number(event.loss)})"
    grads = event.grads or {}
    if not grads:
        return f"{head}: no leaf received a gradient"
    name, change = next(iter(grads.items()))
    values = f"{format_tensor(change.before)} {ARROW} {format_tensor(change.after)}"
    return f"{head}: {name}.grad {values} ({_grad_note(change.before)}){_more(grads)}"


def _call(owner_name: str, method: str) -> str:
    return f"{owner_name}.{method}()" if owner_name else f"{method}()"


def _describe_zeroed(event: GradsZeroed) -> str:
    head = _call(event.optimizer.name, "zero_grad")
    grads = event.grads or {}
    if not grads:
        return f"{head}: no grads to reset"
    noun = "grad" if len(grads) == 1 else "grads"
    to_none = sum(1 for change in grads.values() if change.after is None)
    if to_none == len(grads):
        return f"{head}: {len(grads)} {noun} reset to None"
    if to_none == 0:
        return f"{head}: {len(grads)} {noun} set to zero"
    return f"{head}: {len(grads)} {noun} reset ({to_none} to None, {len(grads) - to_none} to zero)"


def _hyper_text(hyperparams: tuple[Mapping[str, HyperValue], ...]) -> list[str]:
    """``lr`` always (one per parameter group), ``momentum`` only where it does something (SGD records momentum=0)."""
    group = hyperparams[0] if hyperparams else {}
    parts = []
    lrs = group_lrs(hyperparams)
    if lrs:
        parts.append(f"lr={lrs}")
    if group.get("momentum"):
        parts.append(f"momentum={format_number(group['momentum'])}")
    return parts


def _describe_step(event: StepTaken) -> str:
    details = ", ".join(p for p in [event.optimizer.cls, *_hyper_text(event.hyperparams)] if p)
    head = _call(event.optimizer.name, "step") + (f" ({details})" if details else "")
    if event.skipped is not None:
        return f"{head}: skipped, no parameter changed: {event.skipped}"
    params = event.params or {}
    if not params:
        return f"{head}: no parameters"
    name, change = next(iter(params.items()))
    return f"{head}: {name} {format_tensor(change.before)} {ARROW} {format_tensor(change.after)}{_more(params)}"


def _describe_update(event: ParamsUpdated) -> str:
    head = update_call(event, with_args=False)
    how = ("through .data, which autograd does not see" if event.through_data
           else "under no_grad" if not event.grad_enabled else "with grad mode on")
    params = event.params or {}
    if not params:
        return f"{head}: no parameter changed"
    name, change = next(iter(params.items()))
    values = f"{format_tensor(change.before)} {ARROW} {format_tensor(change.after)}"
    return f"{head}: {name} {values}{_more(params)} (updated by hand {how})"


def _describe_op(event: OpCalled) -> str:
    text = f"{event.op}({', '.join(event.args)}) {ARROW} {event.grad_fn or 'no grad_fn'}"
    if event.autocast:
        dtype = event.output.dtype if event.output is not None else event.autocast
        text += f" (ran in {dtype} under autocast)"
    if event.inference:
        return f"{text} (inference_mode: no graph, and the output can never join one)"
    if not event.grad_enabled:
        return f"{text} (grad mode off: no graph recorded)"
    if event.grad_fn is None:
        return f"{text} (not part of the graph)"
    return text


def _describe_grad(event: GradComputed) -> str:
    outputs = ", ".join(event.outputs) or "the outputs"
    head = f"autograd.grad of {outputs}"
    if not event.inputs:
        return f"{head}: no inputs"
    name, result = event.inputs[0], event.results[0] if event.results else None
    more = f", and {len(event.inputs) - 1} more" if len(event.inputs) > 1 else ""
    graph = "; create_graph: the result is itself differentiable" if event.create_graph else ""
    return (f"{head}: d{name} = {format_tensor(result)}{more} (returned, every .grad left untouched"
            f"{graph})")


def _describe_hook(event: GradHooked) -> str:
    head = f"hook {event.hook} on {event.target}"
    if not event.changed:
        return f"{head} ran and left the gradient as it was"
    before = format_tensor(event.before[0]) if event.before else "nothing"
    after = format_tensor(event.after[0]) if event.after else "nothing"
    return f"{head} changed the gradient: {before} {ARROW} {after}"


def _describe_clip(event: GradsClipped) -> str:
    text = clip_text(event)
    if event.total_norm is not None and event.clipped:
        return f"{text} (every .grad scaled down to total norm {format_number(event.max)})"
    return text


def _describe_unscale(event: GradsUnscaled) -> str:
    head = f"{event.scaler.name}.unscale_({event.optimizer.name}): grads ÷ {format_number(event.scale)}"
    if event.found_inf:
        return f"{head}; found inf/NaN, so the step will be skipped and the scale lowered"
    return f"{head}, back to the loss's own scale"


def _describe_schedule(event: LrScheduled) -> str:
    if event.constructed:
        return (f"{event.scheduler.name} = {event.scheduler.cls}(…) set {event.optimizer.name}'s starting point: "
                f"{schedule_text(event)}")
    return f"{event.scheduler.name}.step() ({event.scheduler.cls}) on {event.optimizer.name}: {schedule_text(event)}"


def _describe_mode(event: ModeSet) -> str:
    if event.target == "grad":
        return {"grad": "grad mode on: operations record the graph again",
                "no_grad": "no_grad: operations record no graph",
                "inference": "inference_mode: no graph, and outputs can never join one"}.get(event.mode, event.mode)
    what = ("training mode (dropout active, batch norm updates its statistics)" if event.mode == "train"
            else "evaluation mode (dropout off, batch norm uses its running statistics)")
    return f"{event.target}.{MODE_WORDS[event.mode]}(): {what}"


def _describe_output(event: OutputWritten) -> str:
    text = " ⏎ ".join(event.text.strip().splitlines())
    if len(text) > OUTPUT_CHARS:
        text = text[:OUTPUT_CHARS] + ELLIPSIS
    return f"printed: {text}" if event.stream == "stdout" else f"printed to {event.stream}: {text}"


def _describe_watch(event: ValueWatched) -> str:
    # The same words as ``formatting.summary`` uses for a watch without a number.
    return f"{event.name} = {format_number(event.value) if event.value is not None else 'not a number'}"


def describe(events: Sequence[Event], upto: int, sources: Mapping[str, str] | None = None) -> str:
    """One plain sentence about what ``events[upto]`` did, for somebody learning autograd.

    Forms: ``backward() from loss (loss=1): theta.grad 2 → 4 (added to the old value;
    nothing reset it)`` (``from`` only with a root name, ``(loss=…)`` only with a loss, the
    first leaf and ``, and N more``); ``opt.zero_grad(): 2 grads reset to None``;
    ``opt.step() (SGD, lr=0.2): theta 1 → 0.6``; ``a -= …: a 0.5214 → 0.519 (updated by
    hand under no_grad)``; ``mul(theta, theta) → MulBackward0``;
    ``line 13 in <module>``; ``printed: …``; ``TypeName: message``; ``theta = 0.36``.
    ``upto`` past the end means the last event; an empty timeline gives ``""``.
    """
    if not events or upto < 0:
        return ""
    event = events[last_index(events, upto)]
    match event:
        case BackwardDone():
            return _describe_backward(event)
        case GradsZeroed():
            return _describe_zeroed(event)
        case StepTaken():
            return _describe_step(event)
        case ParamsUpdated():
            return _describe_update(event)
        case OpCalled():
            return _describe_op(event)
        case LineReached():
            return f"{place(event.file, event.line, sources or {})} in {event.function}"
        case OutputWritten():
            return _describe_output(event)
        case ErrorRaised():
            return f"{event.type}: {event.message}" if event.message else event.type
        case ValueWatched():
            return _describe_watch(event)
        case RunReviewed():
            return "looking back over the run: " + (f"{len(event.notes)} notes" if len(event.notes) > 1 else "a note")
        case DetailDropped():
            return dropped_text(event) + "; the plot shows them"
        case GradComputed():
            return _describe_grad(event)
        case GradHooked():
            return _describe_hook(event)
        case GradsClipped():
            return _describe_clip(event)
        case GradsUnscaled():
            return _describe_unscale(event)
        case ScaleUpdated():
            why = " (inf/NaN found: lowered)" if event.found_inf else ""
            return (f"{event.scaler.name}.update(): loss scale {format_number(event.before)} {ARROW} "
                    f"{format_number(event.after)}{why}")
        case LrScheduled():
            return _describe_schedule(event)
        case ModeSet():
            return _describe_mode(event)
        case _:
            assert_never(event)
