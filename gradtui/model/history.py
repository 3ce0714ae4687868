"""The questions the debugger asks of a timeline at its cursor, answered from model values alone.

The app shows one event at a time (the cursor ``upto``, inclusive) and asks about everything
up to it: what has ``theta.grad`` been so far, which backward is this, what did the loss
do (where the next stop is: ``navigation``; the sentence about an event: ``sentences``).
Answering here, as pure functions of a ``Sequence[Event]`` with ``events[i].seq == i``,
keeps the widgets thin and lets the tests check the answers without Textual. Given an
``EventIndex`` (in memory, or a recording of a million events), every question is an
indexed query plus a bounded number of events read, never a walk over the run: the
gradient history reads the last ``GRAD_WINDOW`` backward and zero_grad events, the plot
a thinned series. A plain list is walked (a test's few events). Must not import torch
or textual, and must not keep state: the same events and cursor always give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

from gradtui.model.cells import place
from gradtui.model.events import (
    BackwardDone,
    Change,
    Event,
    EventBase,
    GradComputed,
    GradsClipped,
    GradsUnscaled,
    GradsZeroed,
    OpCalled,
    ValueWatched,
)
from gradtui.model.formatting import ARROW, format_tensor
from gradtui.model.index import EventIndex, IndexedEvents
from gradtui.model.tensors import TensorSummary
from gradtui.model.thinning import ThinnedPoints

ELLIPSIS = "…"
RESET_MARK = "⟲ zero_grad"
#: What stands for the arrow before a value that clipping or unscaling wrote.
CLIP_MARK = "✂"
UNSCALE_MARK = "÷"
#: The events that write ``.grad``: what the gradients panel reads.
GRAD_KINDS: tuple[type[Event], ...] = (BackwardDone, GradsZeroed, GradsClipped, GradsUnscaled)

#: Kinds of event ``latest`` is asked for: the answer is one of them.
A = TypeVar("A", bound=Event)
B = TypeVar("B", bound=Event)
C = TypeVar("C", bound=Event)
D = TypeVar("D", bound=Event)
E = TypeVar("E", bound=Event)


@dataclass(frozen=True, slots=True)
class GradEntry:
    """One value in a leaf's ``.grad`` history.

    ``seq`` is the event that produced the value, or for a ``before`` value the event that
    first showed it. ``reset`` marks a value set by a zero_grad.
    """

    seq: int
    value: TensorSummary | None
    reset: bool = False
    #: ``CLIP_MARK`` or ``UNSCALE_MARK`` for a value clipping or ``GradScaler.unscale_`` wrote.
    mark: str | None = None


def last_index(events: Sequence[Event], upto: int) -> int:
    """The index of the last event the cursor covers; -1 when it covers none."""
    return min(upto, len(events) - 1)


# ---------------------------------------------------------------- gradient history


def same_value(a: TensorSummary | None, b: TensorSummary | None) -> bool:
    """Whether two ``.grad`` values are the same value (``None`` only equals ``None``).

    The same summary is the same value without a look at its elements (a recording hands
    out one object per stored tensor, so a ``before`` is often its predecessor's ``after``):
    ``TensorSummary.__eq__`` compares every element, and is reflexive, NaN included.
    """
    if a is b:
        return True
    if a is None or b is None:
        return False
    return a == b


def _record(history: list[GradEntry], seq: int, change: Change, reset: bool, mark: str | None = None) -> None:
    if not history or not same_value(history[-1].value, change.before):
        history.append(GradEntry(seq, change.before))
    if mark is not None and same_value(change.before, change.after):
        return  # clipping that left this gradient as it was: nothing new to show
    history.append(GradEntry(seq, change.after, reset, mark))


#: Backward and zero_grad events the Gradients panel reads back from the cursor, at most.
#: The panel shows a leaf's last 12 values (``format_grad_history``), two per event at
#: most: 64 events hold them for a dozen leaves touched in turn, and bound the work of a
#: redraw on a run of any length.
GRAD_WINDOW = 64


@dataclass(frozen=True, slots=True)
class GradWindow:
    """The ``.grad`` histories the last ``GRAD_WINDOW`` backward and zero_grad events tell.

    ``cut``: earlier ones exist, so a history may begin before what it holds.
    """

    histories: dict[str, list[GradEntry]]
    cut: bool


def grad_positions(events: Sequence[Event], upto: int, window: int = GRAD_WINDOW) -> tuple[list[int], bool]:
    """The positions of the last ``window`` backward, zero_grad, clip and unscale events up to ``upto``, in order,
    and whether earlier ones exist (the window cut them)."""
    kinds = GRAD_KINDS
    last = last_index(events, upto)
    if isinstance(events, EventIndex):
        found = events.last_positions([k.kind for k in kinds], last, window + 1)
        return (found[-window:] if window > 0 else []), len(found) > window
    picked: list[int] = []
    for i in range(last, -1, -1):
        if isinstance(events[i], kinds):
            if len(picked) == window:
                return picked[::-1], True
            picked.append(i)
    return picked[::-1], False


def grad_window(events: Sequence[Event], upto: int, window: int = GRAD_WINDOW) -> GradWindow:
    """``grad_history`` and whether the window left earlier backward or zero_grad events out.

    Built afresh from the window's events on every call: the reference answer. The panel
    asks ``gradtui.model.grad_index.GradIndex``, which gives the same one from what it
    decided about each event once.
    """
    found, cut = grad_positions(events, upto, window)
    picked = [events[i] for i in found]
    histories: dict[str, list[GradEntry]] = {}
    for event in picked:
        if isinstance(event, BackwardDone | GradsZeroed | GradsClipped | GradsUnscaled):
            reset = isinstance(event, GradsZeroed)
            mark = CLIP_MARK if isinstance(event, GradsClipped) else (
                UNSCALE_MARK if isinstance(event, GradsUnscaled) else None)
            for name, change in event.grads.items():
                _record(histories.setdefault(name, []), event.seq, change, reset, mark)
    return GradWindow(histories, cut)


def grad_history(events: Sequence[Event], upto: int, window: int = GRAD_WINDOW) -> dict[str, list[GradEntry]]:
    """Every ``.grad`` value of each leaf seen by the last ``window`` backward or zero_grad events up to ``upto``.

    Leaves come in order of first appearance. A ``before`` that differs from the last
    recorded value (the script changed the grad where we could not see, e.g.
    ``x.grad.zero_()``) is recorded too, so every step of the history is explained.
    Only the last ``window`` such events are read, however long the run: a run with fewer
    gets its whole history; in a longer one a leaf none of them touched is not listed,
    and a history starts at the first value the window holds (``grad_window`` says
    whether it cut; the panel then opens the history with ``…``).
    """
    return grad_window(events, upto, window).histories
def _current_entry(entries: Sequence[GradEntry], current_seq: int) -> int | None:
    """The last entry with the largest ``seq <= current_seq`` (entries are in seq order)."""
    found = None
    for i, entry in enumerate(entries):
        if entry.seq <= current_seq:
            found = i
    return found


def format_grad_history(
    entries: Sequence[GradEntry], current_seq: int, limit: int = 12, cut: bool = False,
    text: Callable[[GradEntry], str] | None = None,
) -> list[tuple[str, bool]]:
    """The history as pieces ``(text, is_current)`` for a widget to style one by one.

    Each value is one piece; before every value but the first comes its separator: the
    piece ``→``, preceded by ``⟲ zero_grad`` for a reset value, and ``✂`` (``÷``) instead
    for a value clipping (unscaling) wrote. Joined with spaces:
    ``None → 2 → 4 → 6 → 8 ⟲ zero_grad → None → 2``, ``None → 0.436 ✂ 0.243``. With more than ``limit`` values the
    oldest are dropped and the first piece is ``…`` (then the first kept value's separator:
    ``… → 6 → 8``); so too with ``cut`` (the history began before ``entries``), unless it
    opens with None, where a history begins anyway. Only a value piece can be current: the
    entry with the largest ``seq <= current_seq``; none is marked when that entry was
    dropped or none qualifies. ``text`` writes a value (default ``format_tensor`` of it):
    a caller that keeps each value's text passes its own.
    """
    current = _current_entry(entries, current_seq)
    start = max(0, len(entries) - max(limit, 1))
    cut_before = bool(start) or (cut and bool(entries) and entries[0].value is not None)
    pieces: list[tuple[str, bool]] = [(ELLIPSIS, False)] if cut_before else []
    for i in range(start, len(entries)):
        entry = entries[i]
        if entry.reset and pieces:
            pieces.append((RESET_MARK, False))
        if pieces:
            pieces.append((entry.mark or ARROW, False))
        pieces.append((format_tensor(entry.value) if text is None else text(entry), i == current))
    return pieces


# ---------------------------------------------------------------- where we are


@overload
def latest(events: Sequence[Event], upto: int, kinds: tuple[type[A]]) -> A | None: ...
@overload
def latest(events: Sequence[Event], upto: int, kinds: tuple[type[A], type[B]]) -> A | B | None: ...
@overload
def latest(events: Sequence[Event], upto: int, kinds: tuple[type[A], type[B], type[C]]) -> A | B | C | None: ...
@overload
def latest(events: Sequence[Event], upto: int,
           kinds: tuple[type[A], type[B], type[C], type[D], type[E]]) -> A | B | C | D | E | None: ...
@overload
def latest(events: Sequence[Event], upto: int, kinds: tuple[type[Event], ...]) -> Event | None: ...
def latest(events: Sequence[Event], upto: int, kinds: tuple[type[EventBase], ...]) -> Event | None:
    """The last event of one of ``kinds`` with ``seq <= upto``, typed as one of them (a ``match`` over
    the kinds asked for is then exhaustive)."""
    if isinstance(events, EventIndex):
        found = events.latest([k.kind for k in kinds], last_index(events, upto))
        return None if found is None else events[found]
    for i in range(last_index(events, upto), -1, -1):
        if isinstance(events[i], kinds):
            return events[i]
    return None


def focus_graph_event(events: Sequence[Event], upto: int) -> BackwardDone | GradComputed | OpCalled | None:
    """The event whose tensor the graph panel shows: the latest backward or autograd.grad, else the latest op."""
    backward = latest(events, upto, (BackwardDone, GradComputed))
    return backward if backward is not None else latest(events, upto, (OpCalled,))


def count(events: Sequence[Event], upto: int, kind: type[Event]) -> int:
    """How many events of ``kind`` there are up to and including ``upto``."""
    if isinstance(events, EventIndex):
        return events.count_of(kind.kind, last_index(events, upto))
    return sum(1 for event in events[: last_index(events, upto) + 1] if isinstance(event, kind))


def backward_number(events: Sequence[Event], upto: int) -> int:
    """How many backward() calls have run up to and including ``upto``."""
    return count(events, upto, BackwardDone)


def position(events: Sequence[Event], upto: int, finished: bool, sources: Mapping[str, str] | None = None) -> str:
    """``event 12 / 87 · line 13 · backward #3``; the total reads ``87+`` while more may come.

    ``upto`` is clamped into the timeline; ``backward #N`` is left out before the first one.
    """
    if not events:
        return "no events yet"
    index = max(0, last_index(events, upto))
    total = f"{len(events)}" if finished else f"{len(events)}+"
    here = events[index]
    parts = [f"event {index + 1} / {total}", place(here.file, here.line, sources or {})]
    number = backward_number(events, index)
    if number:
        parts.append(f"backward #{number}")
    return " · ".join(parts)


# ---------------------------------------------------------------- series for plots


def loss_points(events: Sequence[Event], upto: int) -> list[tuple[int, float]]:
    """``(backward number from 1, loss)`` for each backward up to ``upto`` that had a scalar loss."""
    if isinstance(events, EventIndex):
        return events.loss_points(last_index(events, upto))
    points: list[tuple[int, float]] = []
    number = 0
    for event in events[: last_index(events, upto) + 1]:
        if isinstance(event, BackwardDone):
            number += 1
            loss: object = event.loss
            if isinstance(loss, int | float) and not isinstance(loss, bool):
                points.append((number, float(loss)))
    return points


def watch_points(events: Sequence[Event], upto: int, name: str) -> list[tuple[int, float]]:
    """``(seq, value)`` of every watch of ``name`` up to ``upto`` that had a value."""
    if isinstance(events, EventIndex):
        return events.watch_points(name, last_index(events, upto))
    return [(event.seq, float(event.value)) for event in events[: last_index(events, upto) + 1]
            if isinstance(event, ValueWatched) and event.name == name and event.value is not None]


def loss_series(events: Sequence[Event], upto: int, most: int) -> ThinnedPoints:
    """``loss_points`` as at most about ``most`` points, each stretch's extremes kept (``gradtui.model.thinning``)."""
    index = events if isinstance(events, EventIndex) else IndexedEvents(events)
    return index.loss_series(last_index(events, upto), most)


def watch_series(events: Sequence[Event], upto: int, name: str, most: int) -> ThinnedPoints:
    """The values of ``watch_points`` at x = 0, 1, 2 …, as at most about ``most`` points."""
    index = events if isinstance(events, EventIndex) else IndexedEvents(events)
    return index.watch_series(name, last_index(events, upto), most)
