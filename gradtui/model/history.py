"""The questions the debugger asks of a timeline at its cursor, answered from model values alone.

The app shows one event at a time (the cursor ``upto``, inclusive) and asks about everything
up to it: what has ``theta.grad`` been so far, which backward is this, what did this event
do in plain words, where is the next breakpoint. Answering here, as pure functions of a
``Sequence[Event]`` with ``events[i].seq == i``, keeps the widgets thin and lets the tests
check the answers without Textual. Must not import torch or textual, and must not keep
state: the same events and cursor always give the same answer.

Watched values (``ValueWatched``, kind ``watch``) are read by kind and ``getattr``, not by
class, so this module does not depend on that class being present in ``events.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from gradtui.model.events import (
    EVENT_TYPES,
    BackwardDone,
    Change,
    ErrorRaised,
    Event,
    GradsZeroed,
    HyperValue,
    LineReached,
    NodeRun,
    OpCalled,
    OutputWritten,
    StepTaken,
)
from gradtui.model.formatting import ARROW, format_number, format_tensor
from gradtui.model.index import IndexedEvents
from gradtui.model.tensors import TensorSummary

WATCH_KIND = "watch"
ELLIPSIS = "…"
RESET_MARK = "⟲ zero_grad"
#: Printed text is cut to this many characters in ``describe``.
OUTPUT_CHARS = 60

EventPredicate = Callable[[Event], bool]


@dataclass(frozen=True, slots=True)
class GradEntry:
    """One value in a leaf's ``.grad`` history.

    ``seq`` is the event that produced the value, or for a ``before`` value the event that
    first showed it. ``reset`` marks a value set by a zero_grad.
    """

    seq: int
    value: TensorSummary | None
    reset: bool = False


def _last(events: Sequence[Event], upto: int) -> int:
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
            for name, change in (event.grads or {}).items():
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
    if isinstance(events, IndexedEvents):
        return (events[i] for i in events.positions([k.kind for k in kinds], _last(events, upto)))
    return (e for e in events[: _last(events, upto) + 1] if isinstance(e, kinds))


def latest(events: Sequence[Event], upto: int, kinds: tuple[type[Event], ...]) -> Event | None:
    """The last event of one of ``kinds`` with ``seq <= upto``."""
    if isinstance(events, IndexedEvents):
        found = events.latest([k.kind for k in kinds], _last(events, upto))
        return None if found is None else events[found]
    for i in range(_last(events, upto), -1, -1):
        if isinstance(events[i], kinds):
            return events[i]
    return None


def focus_graph_event(events: Sequence[Event], upto: int) -> Event | None:
    """The event whose tensor the graph panel shows: the latest backward, else the latest op."""
    backward = latest(events, upto, (BackwardDone,))
    return backward if backward is not None else latest(events, upto, (OpCalled,))


def count(events: Sequence[Event], upto: int, kind: type[Event]) -> int:
    """How many events of ``kind`` there are up to and including ``upto``."""
    if isinstance(events, IndexedEvents):
        return events.count_of(kind.kind, _last(events, upto))
    return sum(1 for event in events[: _last(events, upto) + 1] if isinstance(event, kind))


def backward_number(events: Sequence[Event], upto: int) -> int:
    """How many backward() calls have run up to and including ``upto``."""
    return count(events, upto, BackwardDone)


def describe_flow(run: NodeRun) -> str:
    """What flowed through one node: ``received 1, sent [[0.25, 0.25], [0.25, 0.25]]``."""
    received = ", ".join(format_tensor(g) for g in run.grad_in) or "nothing"
    if not run.grad_out:
        return f"received {received}"
    return f"received {received}, sent {', '.join(format_tensor(g) for g in run.grad_out)}"


def describe_node(event: BackwardDone, index: int, variable: str | None = None) -> str:
    """The sentence for node ``index`` of a backward pass, for the status line."""
    run = event.nodes[index]
    if run.name == "AccumulateGrad":
        leaf = variable or "the leaf"
        received = format_tensor(run.grad_in[0]) if run.grad_in else "nothing"
        change = event.grads.get(variable) if variable is not None and event.grads else None
        how = ""
        if change is not None:
            how = " (set from None)" if change.before is None else f" (added to {format_tensor(change.before)})"
        return f"AccumulateGrad writes {received} into {leaf}.grad{how}"
    return f"{run.name} {describe_flow(run)}"


def position(events: Sequence[Event], upto: int, finished: bool) -> str:
    """``event 12 / 87 · line 13 · backward #3``; the total reads ``87+`` while more may come.

    ``upto`` is clamped into the timeline; ``backward #N`` is left out before the first one.
    """
    if not events:
        return "no events yet"
    index = max(0, _last(events, upto))
    total = f"{len(events)}" if finished else f"{len(events)}+"
    parts = [f"event {index + 1} / {total}", f"line {events[index].line}"]
    number = backward_number(events, index)
    if number:
        parts.append(f"backward #{number}")
    return " · ".join(parts)


# ---------------------------------------------------------------- one sentence per event


def _more(changes: Mapping[str, Change]) -> str:
    return f", and {len(changes) - 1} more" if len(changes) > 1 else ""


def _is_zero(t: TensorSummary) -> bool:
    flat = t.flat_values()
    return flat is not None and len(flat) > 0 and all(v == 0 for v in flat)


def _grad_note(before: TensorSummary | None) -> str:
    if before is None:
        return "the first gradient"
    if _is_zero(before):
        return "added to the old value, which was zero"
    return "added to the old value; nothing reset it"


def _describe_backward(event: BackwardDone) -> str:
    head = "backward()"
    if event.root:
        head += f" from {event.root}"
    if event.loss is not None:
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
    """``lr`` always, ``momentum`` only where it does something (SGD records momentum=0)."""
    group = hyperparams[0] if hyperparams else {}
    parts = []
    if group.get("lr") is not None:
        parts.append(f"lr={format_number(group['lr'])}")
    if group.get("momentum"):
        parts.append(f"momentum={format_number(group['momentum'])}")
    return parts


def _describe_step(event: StepTaken) -> str:
    details = ", ".join(p for p in [event.optimizer.cls, *_hyper_text(event.hyperparams)] if p)
    head = _call(event.optimizer.name, "step") + (f" ({details})" if details else "")
    params = event.params or {}
    if not params:
        return f"{head}: no parameters"
    name, change = next(iter(params.items()))
    return f"{head}: {name} {format_tensor(change.before)} {ARROW} {format_tensor(change.after)}{_more(params)}"


def _describe_op(event: OpCalled) -> str:
    text = f"{event.op}({', '.join(event.args)}) {ARROW} {event.grad_fn or 'no grad_fn'}"
    if not event.grad_enabled:
        return f"{text} (grad mode off: no graph recorded)"
    if event.grad_fn is None:
        return f"{text} (not part of the graph)"
    return text


def _describe_output(event: OutputWritten) -> str:
    text = " ⏎ ".join(event.text.strip().splitlines())
    if len(text) > OUTPUT_CHARS:
        text = text[:OUTPUT_CHARS] + ELLIPSIS
    return f"printed: {text}" if event.stream == "stdout" else f"printed to {event.stream}: {text}"


def _describe_watch(event: Event) -> str:
    value = getattr(event, "value", None)
    # The same words as ``formatting.summary`` uses for a watch without a number.
    return f"{getattr(event, 'name', '')} = {format_number(value) if value is not None else 'not a number'}"


def describe(events: Sequence[Event], upto: int) -> str:
    """One plain sentence about what ``events[upto]`` did, for somebody learning autograd.

    Forms: ``backward() from loss (loss=1): theta.grad 2 → 4 (added to the old value;
    nothing reset it)`` (``from`` only with a root name, ``(loss=…)`` only with a loss, the
    first leaf and ``, and N more``); ``opt.zero_grad(): 2 grads reset to None``;
    ``opt.step() (SGD, lr=0.2): theta 1 → 0.6``; ``mul(theta, theta) → MulBackward0``;
    ``line 13 in <module>``; ``printed: …``; ``TypeName: message``; ``theta = 0.36``.
    ``upto`` past the end means the last event; an empty timeline gives ``""``.
    """
    if not events or upto < 0:
        return ""
    event = events[_last(events, upto)]
    if isinstance(event, BackwardDone):
        return _describe_backward(event)
    if isinstance(event, GradsZeroed):
        return _describe_zeroed(event)
    if isinstance(event, StepTaken):
        return _describe_step(event)
    if isinstance(event, OpCalled):
        return _describe_op(event)
    if isinstance(event, LineReached):
        return f"line {event.line} in {event.function}"
    if isinstance(event, OutputWritten):
        return _describe_output(event)
    if isinstance(event, ErrorRaised):
        return f"{event.type}: {event.message}" if event.message else event.type
    if event.kind == WATCH_KIND:
        return _describe_watch(event)
    return event.kind


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
    candidates: Iterable[Event] = events[: _last(events, upto) + 1]
    if isinstance(events, IndexedEvents):
        candidates = (events[i] for i in events.positions([WATCH_KIND], _last(events, upto)))
    for event in candidates:
        if event.kind == WATCH_KIND and getattr(event, "name", None) == name:
            value = getattr(event, "value", None)
            if value is not None:
                points.append((event.seq, float(value)))
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
    if isinstance(events, IndexedEvents) and isinstance(want, OfKinds):
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
    if isinstance(events, IndexedEvents) and isinstance(want, OfKinds):
        found = events.latest(want.kinds, min(start, len(events)) - 1)
        while found is not None and not want(events[found]):
            found = events.latest(want.kinds, found - 1)
        return found
    for i in range(min(start, len(events)) - 1, -1, -1):
        if want(events[i]):
            return i
    return None


#: A line event.
is_line = OfKinds([LineReached.kind])
#: A backward, zero_grad or step: what ``e`` / ``E`` stop on.
is_milestone = OfKinds([kind for kind, cls in EVENT_TYPES.items() if cls.is_milestone])


def at_breakpoint(breakpoints: Collection[tuple[str, int]]) -> EventPredicate:
    """A predicate: a line event at one of ``breakpoints`` (``(file, line)``, matched exactly)."""
    points = frozenset(breakpoints)
    # No breakpoints: no event can match, and an index answers without looking.
    return OfKinds([LineReached.kind] if points else [], lambda event: (event.file, event.line) in points)
