"""How numbers, tensors and events read as text, the same in ``--trace`` and in the app.

Output the user reads is the product: one function decides how a gradient of 2 is
spelled (``2``, not ``2.0000`` or ``tensor([2.])``), so a value looks the same in every
panel and every log. Pure functions of model values; no torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, assert_never

from gradtui.model.cells import CellMap
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
from gradtui.model.tensors import TensorStats, TensorSummary

ARROW = "→"
#: Tensors with at most this many elements are written out in full in one-line text.
INLINE_ELEMENTS = 8


def format_number(x: object, digits: int = 6) -> str:
    """Six significant digits (or ``digits``), no trailing zeros: 2, 0.6, 3.65616e-05, nan, -inf."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        text = format(x, f".{digits}g")
        return "0" if text == "-0" else text
    if isinstance(x, complex):
        return f"({format_number(x.real, digits)}{'+' if x.imag >= 0 else '-'}{format_number(abs(x.imag), digits)}j)"
    return str(x)


def format_values(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(format_values(v) for v in values) + "]"
    return format_number(values)


def stats_from_values(t: TensorSummary) -> TensorStats | None:
    """Statistics of a tensor that kept its values (the engine only stores them for large ones)."""
    flat = t.flat_values()
    if flat is None:
        return t.stats
    nums = [float(v) for v in flat if isinstance(v, (int, float))]
    finite = [v for v in nums if math.isfinite(v)]
    n = len(finite)
    mean = sum(finite) / n if n else None
    std = None
    if n > 1 and mean is not None:
        std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
    return TensorStats(
        numel=len(flat),
        min=min(finite) if finite else None,
        max=max(finite) if finite else None,
        mean=mean,
        std=std,
        norm=math.sqrt(sum(v * v for v in finite)) if finite else None,
        nan=sum(1 for v in nums if math.isnan(v)),
        inf=sum(1 for v in nums if math.isinf(v)),
    )


def format_shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape) if shape else "scalar"


def format_stats(stats: TensorStats | None) -> str:
    if stats is None:
        return "no values kept"
    parts = [f"{name}={format_number(getattr(stats, name))}" for name in ("mean", "min", "max", "norm")
             if getattr(stats, name) is not None]
    if stats.nan:
        parts.append(f"nan×{stats.nan}")
    if stats.inf:
        parts.append(f"inf×{stats.inf}")
    return " ".join(parts)


def format_tensor(t: TensorSummary | None, inline: int = INLINE_ELEMENTS) -> str:
    """A tensor on one line: ``None``, ``2``, ``[0.6, -0.6]``, or shape and statistics."""
    if t is None:
        return "None"
    if t.values is not None and t.numel <= inline:
        scalar = t.scalar()
        return format_number(scalar) if scalar is not None else format_values(t.values)
    stats = t.stats if t.values is None else stats_from_values(t)
    return f"<{t.dtype} {format_shape(t.shape)} {format_stats(stats)}>"


def format_brief(t: TensorSummary | None, digits: int = 4) -> str:
    """A tensor in a few characters, for a table of a line per tensor: ``None``, the value of
    one element, else the norm (and how many elements are not finite), to ``digits``."""
    if t is None:
        return "None"
    scalar = t.scalar() if t.values is not None and t.numel == 1 else None
    if scalar is not None:
        return format_number(scalar, digits)
    stats = t.stats if t.values is None else stats_from_values(t)
    if stats is None:
        return "no values kept"
    parts = [format_number(stats.norm, digits)] if stats.norm is not None else []
    parts += [f"{name}×{count}" for name, count in (("nan", stats.nan), ("inf", stats.inf)) if count]
    return " ".join(parts)


def format_change(name: str, change: Change) -> str:
    return f"{name} {format_tensor(change.before)} {ARROW} {format_tensor(change.after)}"


def _changes(changes: Mapping[str, Change], suffix: str = "") -> str:
    return "  ".join(format_change(name + suffix, c) for name, c in changes.items())


def update_call(event: ParamsUpdated, with_args: bool = True) -> str:
    """The update as the script wrote it: ``a -= tensor#5``, ``w.sub_(…)``, ``w[0] = 7``.

    Without ``with_args`` the operands after the updated tensor read ``…``.
    """
    target = event.args[0] if event.args else ", ".join(event.params)
    rest = list(event.args[1:]) if with_args else (["…"] if len(event.args) > 1 else [])
    if event.op.startswith("_foreach_"):
        return f"{event.op}({', '.join([target, *rest])})"
    if event.op == "[]=":
        index, value = (rest[0], ", ".join(rest[1:])) if len(rest) > 1 else ("…", "…")
        return f"{target}[{index}] = {value}"
    if event.op.endswith("=") and not event.op[0].isalnum():
        return f"{target} {event.op} {', '.join(rest) or '…'}"
    return f"{target}.{event.op}({', '.join(rest)})"


def location(event: Event, main_file: str, cells: CellMap | None = None) -> str:
    """``L13`` in the main script, ``helpers.py:L3`` elsewhere; in a notebook (its ``cells``) ``In [24] L2``."""
    if event.file == main_file or not event.file:
        in_cell = cells.short_place(event.line) if cells is not None else None
        return in_cell or f"L{event.line}"
    return f"{event.file.rsplit('/', 1)[-1]}:L{event.line}"


def summary(event: Event, source: str | None = None) -> str:
    """What an event did, without its location: ``backward  loss=1  theta.grad 2 → 4``."""
    match event:
        case LineReached():
            return f"line      {source.strip() if source else ''}".rstrip()
        case OpCalled():
            args = ", ".join(event.args)
            text = f"op        {event.op}({args}) = {format_tensor(event.output)}"
            if event.grad_fn:
                text += f"  grad_fn={event.grad_fn}"
            if event.inference:
                text += "  [inference_mode]"
            elif not event.grad_enabled:
                text += "  [no_grad]"
            if event.autocast:
                text += f"  [autocast {event.autocast}]"
            return text
        case BackwardDone():
            loss = f"{event.root}={format_number(event.loss)}" if event.loss is not None else f"root={event.root}"
            if event.loss_scale is not None and event.loss is not None:
                # The root is the scaled loss; the value shown is the script's own loss.
                scale = format_number(event.loss_scale)
                loss = f"loss={format_number(event.loss)} (root {event.root} = loss × {scale})"
            if event.inputs:
                loss += f"  inputs=[{', '.join(event.inputs)}]"
            return f"backward  {loss}  {_changes(event.grads, '.grad')}".rstrip()
        case GradComputed():
            results = "  ".join(f"d({', '.join(event.outputs)})/d{name} = {format_tensor(t)}"
                                for name, t in zip(event.inputs, event.results))
            flags = [f for f, on in (("create_graph", event.create_graph), ("retain_graph", event.retain_graph),
                                     ("allow_unused", event.allow_unused)) if on]
            given = f"  grad_outputs=[{', '.join(event.grad_outputs)}]" if event.grad_outputs else ""
            return f"grad      {results}{given}{''.join('  ' + f for f in flags)}".rstrip()
        case GradHooked():
            pairs = "  ".join(f"{format_tensor(b)} {ARROW} {format_tensor(a)}"
                              for b, a in zip(event.before, event.after))
            what = "changed" if event.changed else "unchanged"
            return f"hook      {event.hook} on {event.target} ({event.where})  {pairs}  [{what}]".rstrip()
        case GradsClipped():
            return f"clip      {clip_text(event)}  {_changes(event.grads, '.grad')}".rstrip()
        case GradsUnscaled():
            found = "  found inf/NaN" if event.found_inf else ""
            return (f"unscale   {event.scaler.name}.unscale_({event.optimizer.name}) ÷{format_number(event.scale)}"
                    f"{found}  {_changes(event.grads, '.grad')}").rstrip()
        case ScaleUpdated():
            why = "  (inf/NaN found)" if event.found_inf else ""
            return (f"scale     {event.scaler.name}.update() scale {format_number(event.before)} {ARROW} "
                    f"{format_number(event.after)}{why}")
        case LrScheduled():
            made = " (constructed)" if event.constructed else ""
            return f"schedule  {event.scheduler.name}({event.scheduler.cls}){made} {schedule_text(event)}"
        case ModeSet():
            if event.target == "grad":
                return f"mode      grad mode: {MODE_WORDS[event.mode]}"
            return f"mode      {event.target}.{'train' if event.mode == 'train' else 'eval'}()"
        case GradsZeroed():
            owner = f"{event.optimizer.name}({event.optimizer.cls})"
            return f"zero_grad {owner}  {_changes(event.grads, '.grad')}".rstrip()
        case StepTaken():
            lrs = group_lrs(event.hyperparams)
            hyper = f" lr={lrs}" if lrs else ""
            owner = f"{event.optimizer.name}({event.optimizer.cls}){hyper}"
            if event.skipped is not None:
                return f"step      {owner}  skipped: {event.skipped}"
            return f"step      {owner}  {_changes(event.params)}".rstrip()
        case ParamsUpdated():
            flag = "  [.data]" if event.through_data else ("" if event.grad_enabled else "  [no_grad]")
            return f"update    {update_call(event)}  {_changes(event.params)}{flag}"
        case OutputWritten():
            label = "output" if event.stream == "stdout" else "stderr"
            return f"{label:<9} {event.text.rstrip(chr(10))!r}"
        case ErrorRaised():
            return f"error     {event.type}: {event.message}"
        case ValueWatched():
            value = format_number(event.value) if event.value is not None else "not a number"
            return f"watch     {event.name} = {value}"
        case RunReviewed():
            return "review    looking back over the run"
        case DetailDropped():
            return f"dropped   {dropped_text(event)}"
        case _:
            assert_never(event)


#: How the grad modes of ``ModeSet`` read.
MODE_WORDS = {"grad": "enabled", "no_grad": "no_grad", "inference": "inference_mode", "train": "train", "eval": "eval"}


def lr_list(lrs: Iterable[Any]) -> str:
    """One lr per parameter group: ``0.1``, ``0.1,0.01`` (``?`` for a group without one); ``""`` for none."""
    lrs = list(lrs)
    if all(lr is None for lr in lrs):
        return ""
    return ",".join("?" if lr is None else format_number(lr) for lr in lrs)


def group_lrs(hyperparams: Sequence[Mapping[str, Any]]) -> str:
    """``lr_list`` of the parameter groups' hyperparameters."""
    return lr_list(g.get("lr") for g in hyperparams)


def clip_text(event: GradsClipped) -> str:
    """``clip_grad_norm_ total 0.436 > max 0.25: × 0.573``, or ``clip_grad_value_ ±0.1``."""
    if event.total_norm is None:
        return f"{event.function} ±{format_number(event.max)}" + ("" if event.clipped else " (nothing beyond it)")
    head = f"{event.function} total norm {format_number(event.total_norm)}"
    if not math.isfinite(event.total_norm):
        return f"{head}, max {format_number(event.max)}: not finite"
    if event.clipped and event.coef is not None:
        return f"{head} > max {format_number(event.max)}: × {format_number(event.coef)}"
    return f"{head} ≤ max {format_number(event.max)}: unchanged"


def schedule_text(event: LrScheduled) -> str:
    """``lr 0.1 → 0.05``, per group: ``lr 0.1,0.01 → 0.05,0.005``; other moved values after."""
    before = lr_list(b for b, _ in event.lrs) or "?"
    after = lr_list(a for _, a in event.lrs) or "?"
    text = f"lr {before} {ARROW} {after}"
    moved = {k: v for g in event.changes[:1] for k, v in g.items()}
    for k, (b, a) in moved.items():
        text += f"  {k} {_hyper(b)} {ARROW} {_hyper(a)}"
    return text


def _hyper(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_hyper(x) for x in v) + ")"
    return format_number(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def dropped_text(event: DetailDropped) -> str:
    """``detail of steps 12–4,988 not kept (events 301–123,456): only their summaries``."""
    steps = (f"step {event.first_step + 1:,}" if event.first_step == event.last_step
             else f"steps {event.first_step + 1:,}–{event.last_step + 1:,}")
    return (f"detail of {steps} not kept (events {event.first + 1:,}–{event.last + 1:,}, --keep-steps): "
            "only their summaries")


NOTE_MARK = "⚠"


def trace_line(event: Event, main_file: str, source: str | None = None, cells: CellMap | None = None) -> str:
    """The event's line, then one indented ``⚠ note`` line per note."""
    width = 5 if cells is None else 11  # ``In [12] L34`` lines up too
    head = f"{location(event, main_file, cells):<{width}} {summary(event, source)}"
    return "\n".join([head, *(f"{'':<{width}} {NOTE_MARK} {note}" for note in event.notes)])


def _difference(after: Any, before: Any) -> Any:
    if isinstance(after, list) and isinstance(before, list) and len(after) == len(before):
        return [_difference(a, b) for a, b in zip(after, before)]
    if isinstance(after, (int, float)) and isinstance(before, (int, float)) and not isinstance(after, bool):
        return after - before
    raise ValueError("not comparable")


def format_delta(before: TensorSummary | None, after: TensorSummary | None, inline: int = INLINE_ELEMENTS,
                 digits: int = 6) -> str:
    """The change between two values as one short text: ``-0.4``, ``[0.1, -0.2]``, ``Δnorm +0.03``.

    Element-wise ``after - before`` where both kept their values (the exact difference of
    the numbers torch held; a list up to ``inline`` elements, else the largest); for large
    tensors the change of the norm; words for None. Numbers to ``digits`` digits.
    """
    if before is None and after is None:
        return ""
    if before is None:
        return "new"
    if after is None:
        return "set to None"
    if before.shape == after.shape and before.values is not None and after.values is not None:
        try:
            diff = _difference(after.values, before.values)
        except ValueError:
            return ""
        flat = diff if isinstance(diff, list) else [diff]
        while flat and isinstance(flat[0], list):
            flat = [x for row in flat for x in row]
        if len(flat) == 1:
            return _signed(flat[0], digits)
        if before.numel <= inline:
            return format_values(diff)
        return f"max |Δ| {format_number(max((abs(x) for x in flat), default=0.0), digits)}"
    b, a = stats_from_values(before), stats_from_values(after)
    if a is not None and b is not None and a.norm is not None and b.norm is not None:
        return f"norm {_signed(a.norm - b.norm, digits)}"
    return ""


def _signed(x: float, digits: int = 6) -> str:
    text = format_number(x, digits)
    return text if text.startswith("-") or text in ("0", "nan") else "+" + text
