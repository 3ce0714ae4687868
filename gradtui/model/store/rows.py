"""What the writer files under an event besides its payload: the indexed columns and summaries.

Kept apart from ``writer`` (threads, transactions) because it is pure bookkeeping over
model values: which step an event belongs to, its ordinal among its kind, the number a
plot reads (a backward's loss, a watched value), the parameters it touched, and for an
optimizer step the summary row that stays when ``--keep-steps`` drops the detail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, assert_never

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
from gradtui.model.tensors import TensorSummary


@dataclass(frozen=True, slots=True)
class StepSummary:
    """One optimizer step as the ``steps`` table keeps it (norms by parameter name)."""

    step: int
    seq: int
    optimizer: str
    #: How many backward passes ran up to this step: the plot's x for its loss.
    backward: int
    loss: float | None
    lrs: tuple[float | None, ...]
    grad_norms: Mapping[str, float | None]
    param_norms: Mapping[str, float | None]
    update_norms: Mapping[str, float | None]
    non_finite: tuple[str, ...]


def norm_of(t: TensorSummary | None) -> float | None:
    """The L2 norm of the finite elements, from the values or the statistics kept."""
    if t is None:
        return None
    flat = t.flat_values()
    if flat is not None:
        return math.sqrt(sum(float(v) * float(v) for v in flat if not (isinstance(v, float) and not math.isfinite(v))))
    stats = t.stats
    return None if stats is None else stats.norm


def update_norm(change: Change) -> float | None:
    """``‖after − before‖`` where both values are kept; None where only statistics are."""
    before, after = change.before, change.after
    if before is None or after is None:
        return None
    a, b = after.flat_values(), before.flat_values()
    if a is None or b is None or len(a) != len(b):
        return None
    return math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


def indexed_fields(e: Event) -> tuple[str | None, float | None, tuple[str, ...]]:
    """``(name, value, parameters)``: the columns ``name`` (a watched variable's) and ``value`` (a
    backward's loss, a watched value) and the rows of ``event_params``."""
    match e:
        case BackwardDone():
            loss = e.loss if isinstance(e.loss, int | float) and not isinstance(e.loss, bool) else None
            return None, loss, tuple(e.grads)
        case GradsZeroed() | GradsClipped() | GradsUnscaled():
            return None, None, tuple(e.grads)
        case GradComputed():
            return None, None, e.inputs
        case GradHooked():
            return None, None, (e.target,)
        case StepTaken() | ParamsUpdated():
            return None, None, tuple(e.params)
        case ValueWatched():
            return e.name, e.value, ()
        case (OpCalled() | LineReached() | OutputWritten() | ErrorRaised() | RunReviewed() | DetailDropped()
              | ScaleUpdated() | LrScheduled() | ModeSet()):
            return None, None, ()
        case _:
            assert_never(e)


class StepBook:
    """Follows the run's events to say, for each, its step and ordinal, and to sum up each step."""

    def __init__(self) -> None:
        self.steps = 0
        self._nth: dict[str, int] = {}
        self._loss: float | None = None
        self._backwards = 0
        #: The latest ``.grad`` of each parameter: what the next step applies.
        self._grads: dict[str, TensorSummary | None] = {}

    def place(self, e: Event) -> tuple[int, int]:
        """``(step, nth)`` of ``e``: optimizer steps before it, and its ordinal among its kind (from 1)."""
        nth = self._nth[e.kind] = self._nth.get(e.kind, 0) + 1
        return self.steps, nth

    def after(self, e: Event) -> StepSummary | None:
        """Take ``e`` into account; for an optimizer step, its summary row."""
        if isinstance(e, BackwardDone):
            self._backwards += 1
            loss: Any = e.loss
            if isinstance(loss, int | float) and not isinstance(loss, bool):
                self._loss = float(loss)
            self._grads.update((name, c.after) for name, c in e.grads.items())
        elif isinstance(e, GradsZeroed | GradsClipped | GradsUnscaled):
            self._grads.update((name, c.after) for name, c in e.grads.items())
        elif isinstance(e, StepTaken):
            summary = self._summarize(e)
            self.steps += 1
            return summary
        return None

    def _summarize(self, e: StepTaken) -> StepSummary:
        lrs = tuple(_lr(g.get("lr")) for g in e.hyperparams)
        grads = {name: self._grads.get(name) for name in e.params}
        grad_norms = {name: norm_of(g) for name, g in grads.items()}
        param_norms = {name: norm_of(c.after) for name, c in e.params.items()}
        update_norms = {name: e.update_norms.get(name, update_norm(c)) for name, c in e.params.items()}
        bad = tuple(name for name, c in e.params.items()
                    if (c.after is not None and c.after.has_non_finite())
                    or (grads[name] is not None and grads[name].has_non_finite()))  # type: ignore[union-attr]
        return StepSummary(self.steps, e.seq, e.optimizer.name, self._backwards, self._loss, lrs, grad_norms,
                           param_norms, update_norms, bad)


def _lr(v: object) -> float | None:
    if isinstance(v, TensorSummary):
        s = v.scalar()
        return float(s) if isinstance(s, int | float) else None
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
