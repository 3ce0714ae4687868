"""The questions the debugger asks of a timeline at its cursor, answered from model values alone.

The app shows one event at a time (the cursor ``upto``, inclusive) and asks about everything
up to it: what has ``theta.grad`` been so far, which backward is this, where is the next
breakpoint (the sentence about an event is in ``sentences``). Answering here, as pure
functions of a ``Sequence[Event]`` with ``events[i].seq == i``, keeps the widgets thin and
lets the tests check the answers without Textual. Given an ``EventIndex`` (in memory, or a recording), each
question is answered by bisection instead of a scan. Must not import torch or textual,
and must not keep state: the same events and cursor always give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

from gradtui.model.events import (
    BackwardDone,
    Change,
    Event,
    EventBase,
    GradsZeroed,
    OpCalled,
    ValueWatched,
)
from gradtui.model.formatting import ARROW, format_tensor
from gradtui.model.index import EventIndex
from gradtui.model.tensors import TensorSummary

ELLIPSIS = "…"
RESET_MARK = "⟲ zero_grad"

EventPredicate = Callable[[Event], bool]
#: Kinds of event ``latest`` is asked for: the answer is one of them.
A = TypeVar("A", bound=Event)
B = TypeVar("B", bound=Event)
C = TypeVar("C", bound=Event)


@dataclass(frozen=True, slots=True)
class GradEntry:
    """One value in a leaf's ``.grad`` history.

    ``seq`` is the event that produced the value, or for a ``before`` value the event that
    first showed it. ``reset`` marks a value set by a zero_grad.
    """

    seq: int
    value: TensorSummary | None
    reset: bool = False


def last_index(events: Sequence[Event], upto: int) -> int:
    """The index of the last event the cursor covers; -1 when it covers none."""
    return min(upto, len(events) - 1)


# ---------------------------------------------------------------- gradient history


def _same_value(a: TensorSummary | None, b: TensorSummary | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b


def _record(history: list[GradEntry], seq: int, change: Change, reset: bool) -> None:
    if not history or not _same_value(history[-1].value, change.before):
        history.append(GradEntry(seq, change.before))
    history.append(GradEntry(seq, change.after, reset))


def grad_history(events: Sequence[Event], upto: int) -> dict[str, list[GradEntry]]:
    """Every ``.grad`` value of each leaf seen by backward or zero_grad up to ``upto``.

    Leaves come in order of first appearance. A ``before`` that differs from the last
    recorded value (the script changed the grad where we could not see, e.g.
    ``x.grad.zero_()``) is recorded too, so every step of the history is explained.
    """
    histories: dict[str, list[GradEntry]] = {}
    for event in _of_kinds(events, upto, (BackwardDone, GradsZeroed)):
        if isinstance(event, BackwardDone | GradsZeroed):
            reset = isinstance(event, GradsZeroed)
            for name, change in event.grads.items():
                _record(histories.setdefault(name, []), event.seq, change, reset)
    return histories


def _current_entry(entries: Sequence[GradEntry], current_seq: int) -> int | None:
    """The last entry with the largest ``seq <= current_seq`` (entries are in seq order)."""
    found = None
    for i, entry in enumerate(entries):
        if entry.seq <= current_seq:
            found = i
    return found


def format_grad_history(
    entries: Sequence[GradEntry], current_seq: int, limit: int = 12
) -> list[tuple[str, bool]]:
    """The history as pieces ``(text, is_current)`` for a widget to style one by one.

    Each value is one piece; before every value but the first comes its separator: the
    piece ``→``, preceded by ``⟲ zero_grad`` for a reset value. Joined with spaces:
    ``None → 2 → 4 → 6 → 8 ⟲ zero_grad → None → 2``. With more than ``limit`` values the
    oldest are dropped and the first piece is ``…`` (then the first kept value's separator:
    ``… → 6 → 8``). Only a value piece can be current: the entry with the largest
    ``seq <= current_seq``; none is marked when that entry was dropped or none qualifies.
    """
    current = _current_entry(entries, current_seq)
    start = max(0, len(entries) - max(limit, 1))
    pieces: list[tuple[str, bool]] = [(ELLIPSIS, False)] if start else []
    for i in range(start, len(entries)):
        entry = entries[i]
        if entry.reset and pieces:
            pieces.append((RESET_MARK, False))
        if pieces:
            pieces.append((ARROW, False))
        pieces.append((format_tensor(entry.value), i == current))
    return pieces


# ---------------------------------------------------------------- where we are


def _of_kinds(events: Sequence[Event], upto: int, kinds: tuple[type[Event], ...]) -> Iterator[Event]:
    """The events of ``kinds`` up to ``upto``, in order: by the index when there is one."""
    if isinstance(events, EventIndex):
        return (events[i] for i in events.positions([k.kind for k in kinds], last_index(events, upto)))
    return (e for e in events[: last_index(events, upto) + 1] if isinstance(e, kinds))


@overload
def latest(events: Sequence[Event], upto: int, kinds: tuple[type[A]]) -> A | None: ...
@overload
def latest(events: Sequence[Event], upto: int, kinds: tuple[type[A], type[B]]) -> A | B | None: ...
@overload
def latest(events: Sequence[Event], upto: int, kinds: tuple[type[A], type[B], type[C]]) -> A | B | C | None: ...
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


def focus_graph_event(events: Sequence[Event], upto: int) -> BackwardDone | OpCalled | None:
    """The event whose tensor the graph panel shows: the latest backward, else the latest op."""
    backward = latest(events, upto, (BackwardDone,))
    return backward if backward is not None else latest(events, upto, (OpCalled,))


def count(events: Sequence[Event], upto: int, kind: type[Event]) -> int:
    """How many events of ``kind`` there are up to and including ``upto``."""
    if isinstance(events, EventIndex):
        return events.count_of(kind.kind, last_index(events, upto))
    return sum(1 for event in events[: last_index(events, upto) + 1] if isinstance(event, kind))


def backward_number(events: Sequence[Event], upto: int) -> int:
    """How many backward() calls have run up to and including ``upto``."""
    return count(events, upto, BackwardDone)


def position(events: Sequence[Event], upto: int, finished: bool) -> str:
    """``event 12 / 87 · line 13 · backward #3``; the total reads ``87+`` while more may come.

    ``upto`` is clamped into the timeline; ``backward #N`` is left out before the first one.
    """
    if not events:
        return "no events yet"
    index = max(0, last_index(events, upto))
    total = f"{len(events)}" if finished else f"{len(events)}+"
    parts = [f"event {index + 1} / {total}", f"line {events[index].line}"]
    number = backward_number(events, index)
    if number:
        parts.append(f"backward #{number}")
    return " · ".join(parts)


# ---------------------------------------------------------------- series for plots


def loss_points(events: Sequence[Event], upto: int) -> list[tuple[int, float]]:
    """``(backward number from 1, loss)`` for each backward up to ``upto`` that had a scalar loss."""
    points: list[tuple[int, float]] = []
    number = 0
    for event in _of_kinds(events, upto, (BackwardDone,)):
        if isinstance(event, BackwardDone):
            number += 1
            loss: object = event.loss
            if isinstance(loss, int | float) and not isinstance(loss, bool):
                points.append((number, float(loss)))
    return points


def watch_points(events: Sequence[Event], upto: int, name: str) -> list[tuple[int, float]]:
    """``(seq, value)`` of every watch of ``name`` up to ``upto`` that had a value."""
    points: list[tuple[int, float]] = []
    for event in _of_kinds(events, upto, (ValueWatched,)):
        if isinstance(event, ValueWatched) and event.name == name and event.value is not None:
            points.append((event.seq, float(event.value)))
    return points


# ---------------------------------------------------------------- navigation


class OfKinds:
    """A predicate that can only accept events of ``kinds``, so an index can skip the rest."""

    def __init__(self, kinds: Collection[str], test: EventPredicate | None = None) -> None:
        self.kinds = frozenset(kinds)
        self._test = test

    def __call__(self, event: Event) -> bool:
        return event.kind in self.kinds and (self._test is None or self._test(event))


def next_index(events: Sequence[Event], start: int, want: EventPredicate) -> int | None:
    """The first index after ``start`` whose event ``want`` accepts."""
    if isinstance(events, EventIndex) and isinstance(want, OfKinds):
        found = events.following(want.kinds, start)
        while found is not None and not want(events[found]):
            found = events.following(want.kinds, found)
        return found
    for i in range(max(start + 1, 0), len(events)):
        if want(events[i]):
            return i
    return None


def prev_index(events: Sequence[Event], start: int, want: EventPredicate) -> int | None:
    """The last index before ``start`` whose event ``want`` accepts."""
    if isinstance(events, EventIndex) and isinstance(want, OfKinds):
        found = events.latest(want.kinds, min(start, len(events)) - 1)
        while found is not None and not want(events[found]):
            found = events.latest(want.kinds, found - 1)
        return found
    for i in range(min(start, len(events)) - 1, -1, -1):
        if want(events[i]):
            return i
    return None
