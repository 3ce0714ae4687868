"""Breakpoints on events: stop on every backward, on the first NaN, on a large gradient, on a note.

A line breakpoint says where; these say what. Each is a pure question about one event,
asked by the engine's gate while the script runs (``c`` in the app, ``--break-on`` with
``--trace``) and by the app over the events it already has, so both stop at the same place.
``STOP_KINDS`` is the one list of the kinds: ``--break-on``'s help and errors, the palette's
entries and the help screen are made from it (and tests/test_vocabulary.py holds README to it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from gradtui.model.events import BackwardDone, Change, Event, GradsZeroed, ParamsUpdated, StepTaken
from gradtui.model.formatting import format_number, stats_from_values
from gradtui.model.tensors import TensorSummary


@dataclass(frozen=True, slots=True)
class StopKind:
    """One kind of breakpoint on events, as the command line, the palette and the help name it."""

    #: ``EventStop.kind``.
    kind: str
    #: How ``--break-on`` spells it; ``X`` stands for the threshold.
    spelling: str
    #: What it stops at, in words; ``{X}`` is the threshold.
    words: str
    #: The help screen's few words for it (``first NaN``); an ``every`` kind is one of
    #: "every backward / zero_grad / …".
    gist: str
    every: bool = False
    #: The threshold of the palette's entry, for a kind that takes one.
    palette_threshold: float | None = None

    @property
    def takes_threshold(self) -> bool:
        return self.palette_threshold is not None

    @property
    def palette_stop(self) -> EventStop:
        """The stop the palette's entry sets (a gradient norm above 1000 for ``grad-norm>X``)."""
        return EventStop(self.kind, self.palette_threshold)

    def stop_words(self, threshold: float | None = None) -> str:
        """What the stop stops at: ``a gradient whose norm exceeds 1000`` (``X`` without a threshold)."""
        return self.words.format(X="X" if threshold is None else format_number(threshold))


#: Every kind, in the order the CLI, the palette, the help and the README list them.
STOP_KINDS: tuple[StopKind, ...] = (
    StopKind("backward", "backward", "every backward()", "backward", every=True),
    StopKind("zero_grad", "zero_grad", "every zero_grad()", "zero_grad", every=True),
    StopKind("step", "step", "every optimizer step()", "step", every=True),
    StopKind("update", "update", "every parameter update made by hand", "update by hand", every=True),
    StopKind("nan", "nan", "the first NaN or inf in a loss, gradient or parameter", "first NaN"),
    StopKind("grad-norm", "grad-norm>X", "a gradient whose norm exceeds {X}", "large gradient",
             palette_threshold=1e3),
    StopKind("note", "note", "any note", "any note"),
)


def spellings() -> str:
    """``backward, zero_grad, …, grad-norm>X, note``: what ``--break-on`` accepts."""
    return ", ".join(k.spelling for k in STOP_KINDS)


def gist() -> str:
    """The help screen's line: ``every backward / zero_grad / step / update by hand, first NaN, …``."""
    every = " / ".join(k.gist for k in STOP_KINDS if k.every)
    return ", ".join([f"every {every}", *(k.gist for k in STOP_KINDS if not k.every)])


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
    for kind in STOP_KINDS:
        if not kind.takes_threshold:
            if spec == kind.spelling:
                return EventStop(kind.kind)
            continue
        prefix = kind.spelling.removesuffix("X")
        if spec.startswith(prefix):
            try:
                threshold = float(spec.removeprefix(prefix))
            except ValueError:
                threshold = math.nan
            if threshold > 0 and math.isfinite(threshold):
                return EventStop(kind.kind, threshold)
    raise StopSpecError(f"unknown --break-on '{text}'; use one of: {spellings()}")


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


#: The kinds ``_afters`` reads changes from: where a NaN or inf can appear.
_CHANGING: Final = frozenset([BackwardDone.kind, GradsZeroed.kind, StepTaken.kind, ParamsUpdated.kind])


def event_kinds(stop: EventStop) -> frozenset[str] | None:
    """The kinds of event ``reason`` can stop at under ``stop``; None for any kind (a note is on any event).

    What an index looks up instead of reading every event: it must agree with ``reason``
    (tests/test_navigation.py checks that every event a stop ends at is of these kinds).
    """
    if stop.kind in ("backward", "zero_grad", "step", "update"):
        return frozenset([stop.kind])
    if stop.kind == "nan":
        return _CHANGING
    if stop.kind == "grad-norm":
        return frozenset([BackwardDone.kind])
    if stop.kind == "note":
        return None
    return frozenset()


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
