"""Breakpoints on events: stop on every backward, on the first NaN, on a large gradient, on a note.

A line breakpoint says where; these say what. Each is a pure question about one event,
asked by the engine's gate while the script runs (``c`` in the app, ``--break-on`` with
``--trace``) and by the app over the events it already has, so both stop at the same place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gradtui.model.events import BackwardDone, Change, Event, GradsZeroed, ParamsUpdated, StepTaken
from gradtui.model.formatting import format_number, stats_from_values
from gradtui.model.tensors import TensorSummary

#: What ``--break-on`` accepts, and what each stops on.
KINDS = {
    "backward": "every backward()",
    "zero_grad": "every zero_grad()",
    "step": "every optimizer step()",
    "update": "every parameter update made by hand (p -= lr * p.grad)",
    "nan": "the first NaN or inf in a loss, gradient or parameter",
    "grad-norm>X": "a gradient whose norm exceeds X (e.g. grad-norm>1e3)",
    "note": "any note",
}


class StopSpecError(ValueError):
    """A ``--break-on`` value gradtui does not know; the message says which ones it does."""


@dataclass(frozen=True, slots=True)
class EventStop:
    kind: str
    threshold: float | None = None

    def __str__(self) -> str:
        return f"grad-norm>{format_number(self.threshold)}" if self.kind == "grad-norm" else self.kind


def parse_stop(text: str) -> EventStop:
    spec = text.strip()
    if spec in ("backward", "zero_grad", "step", "update", "nan", "note"):
        return EventStop(spec)
    if spec.startswith("grad-norm>"):
        try:
            threshold = float(spec.removeprefix("grad-norm>"))
        except ValueError:
            threshold = math.nan
        if threshold > 0 and math.isfinite(threshold):
            return EventStop("grad-norm", threshold)
    raise StopSpecError(f"unknown --break-on '{text}'; use one of: {', '.join(KINDS)}")


def _norm(t: TensorSummary | None) -> float | None:
    if t is None:
        return None
    stats = stats_from_values(t) if t.values is not None else t.stats
    return None if stats is None else stats.norm


def _afters(event: Event) -> dict[str, Change]:
    if isinstance(event, BackwardDone | GradsZeroed):
        return dict(event.grads or {})
    if isinstance(event, StepTaken | ParamsUpdated):
        return dict(event.params or {})
    return {}


def reason(stop: EventStop, event: Event) -> str | None:
    """Why ``event`` stops the run under ``stop``, in a few words; None when it does not."""
    if stop.kind in ("backward", "zero_grad", "step"):
        return f"a {stop.kind}" if event.kind == stop.kind else None
    if stop.kind == "update":
        return "an update made by hand" if event.kind == stop.kind else None
    if stop.kind == "note":
        return f"a note: {event.notes[0]}" if event.notes else None
    if stop.kind == "nan":
        loss = getattr(event, "loss", None)
        if isinstance(event, BackwardDone) and isinstance(loss, float) and not math.isfinite(loss):
            return f"the loss is {format_number(loss)}"
        bad = [name for name, change in _afters(event).items()
               if change.after is not None and change.after.has_non_finite()]
        if bad:
            what = "gradient" if isinstance(event, BackwardDone) else "value"
            return f"NaN or inf in the {what} of {', '.join(bad)}"
        return None
    if stop.kind == "grad-norm" and isinstance(event, BackwardDone) and stop.threshold is not None:
        for name, change in _afters(event).items():
            norm = _norm(change.after)
            if norm is not None and norm > stop.threshold:
                return f"{name}.grad has norm {format_number(norm)} > {format_number(stop.threshold)}"
    return None


def first_reason(stops: tuple[EventStop, ...], event: Event) -> str | None:
    for stop in stops:
        why = reason(stop, event)
        if why is not None:
            return why
    return None
