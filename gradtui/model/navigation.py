"""Where a key takes the cursor, and where a command stops the script: one answer for both.

``n`` in the app either walks the events it already has or, past the newest one, asks
the engine to run ``NextLine`` until it pauses. Both must stop at the same event, so both
ask ``wants_pause``: the engine's gate after each event the script makes, the app over
the events it has. The cursor (an event, and a node inside a backward pass) and its moves
are pure functions here, so every key's answer is testable without Textual. Must not
import torch or textual, and must not keep state.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Final

from gradtui.model.events import EVENT_TYPES, BackwardDone, DetailDropped, Event, GradComputed, LineReached
from gradtui.model.index import EventIndex
from gradtui.model.stops import EventStop, event_kinds, first_reason

END_OF_RUN: Final = "this is the end of the run: step back with S, N, E or C"

# ---------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class StepOp:
    """Run to the next event of any kind."""


@dataclass(frozen=True, slots=True)
class NextLine:
    """Run to the next line of the script's code."""


@dataclass(frozen=True, slots=True)
class NextEvent:
    """Run to the next backward, zero_grad, step or update by hand."""


@dataclass(frozen=True, slots=True)
class Continue:
    """Run until a line breakpoint ``(file, line)`` is reached, an event ``stops`` it, or the end."""

    breakpoints: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    stops: tuple[EventStop, ...] = ()


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop before the first event: how the TUI starts."""


Command = StepOp | NextLine | NextEvent | Continue | Pause

_MILESTONES: Final = frozenset(kind for kind, cls in EVENT_TYPES.items() if cls.is_milestone)


def wants_pause(command: Command, event: Event) -> bool:
    """Whether ``event`` ends the run that ``command`` started."""
    if isinstance(command, (StepOp, Pause)):
        return True
    if isinstance(command, NextLine):
        return isinstance(event, LineReached)
    if isinstance(command, NextEvent):
        return event.is_milestone
    if isinstance(event, LineReached) and (event.file, event.line) in command.breakpoints:
        return True
    return bool(command.stops) and first_reason(command.stops, event) is not None


def stopping_kinds(command: Command) -> frozenset[str] | None:
    """The event kinds ``command`` can stop at; None when any kind may (a note is on any event).

    Only a shortcut for a gate that need not look at events at all (the empty set), and
    for the search over an index: ``wants_pause`` decides.
    """
    if isinstance(command, NextLine):
        return frozenset([LineReached.kind])
    if isinstance(command, NextEvent):
        return _MILESTONES
    if isinstance(command, Continue):
        kinds = _stop_kinds(command.stops)
        if kinds is None:
            return None
        return kinds | {LineReached.kind} if command.breakpoints else kinds
    return None


def _stop_kinds(stops: Sequence[EventStop]) -> frozenset[str] | None:
    kinds: set[str] = set()
    for stop in stops:
        found = event_kinds(stop)
        if found is None:
            return None
        kinds |= found
    return frozenset(kinds)


@dataclass(frozen=True, slots=True)
class _Candidates:
    """Where an index looks for ``command``'s stops: events of ``kinds``, lines at ``spots``,
    and with ``noted`` any event with a note. ``wants_pause`` then confirms each."""

    kinds: frozenset[str]
    spots: frozenset[tuple[str, int]] = frozenset()
    noted: bool = False


def _candidates(command: Command) -> _Candidates | None:
    """None: every event is one (``StepOp``)."""
    if isinstance(command, Continue):
        kinds = _stop_kinds(command.stops)
        return _Candidates(kinds or frozenset(), command.breakpoints, noted=kinds is None)
    kinds = stopping_kinds(command)
    return None if kinds is None else _Candidates(kinds)


def _following(events: EventIndex, start: int, where: _Candidates | None) -> int | None:
    if where is None:
        first = max(start + 1, 0)
        if 0 <= start < len(events):
            here = events[start]
            if isinstance(here, DetailDropped):  # a dropped stretch is one stop: step past it
                first = here.last + 1
        return first if first < len(events) else None
    found = [events.following(where.kinds, start) if where.kinds else None,
             events.line_following(where.spots, start) if where.spots else None,
             events.noted_following(start) if where.noted else None]
    return min((f for f in found if f is not None), default=None)


def _preceding(events: EventIndex, start: int, where: _Candidates | None) -> int | None:
    upto = min(start, len(events)) - 1
    if where is None and 0 <= start < len(events):
        here = events[start]
        if isinstance(here, DetailDropped):
            upto = here.first - 1
    if upto < 0 or where is None:
        if upto >= 0 and where is None:
            before = events[upto]
            if isinstance(before, DetailDropped):  # land on a dropped stretch at its start
                return before.first
        return upto if upto >= 0 else None
    found = [events.latest(where.kinds, upto) if where.kinds else None,
             events.line_latest(where.spots, upto) if where.spots else None,
             events.noted_latest(upto) if where.noted else None]
    return max((f for f in found if f is not None), default=None)


def next_stop(events: Sequence[Event], start: int, command: Command) -> int | None:
    """The first index after ``start`` where ``command`` would pause the script.

    Over an index, only the events that can stop (``_candidates``: by kind, by line, by
    note) are read, each confirmed by ``wants_pause``; a plain list is walked.
    """
    if isinstance(events, EventIndex):
        where = _candidates(command)
        found = _following(events, start, where)
        while found is not None and not wants_pause(command, events[found]):
            found = _following(events, found, where)
        return found
    for i in range(max(start + 1, 0), len(events)):
        if wants_pause(command, events[i]):
            return i
    return None


def prev_stop(events: Sequence[Event], start: int, command: Command) -> int | None:
    """The last index before ``start`` where ``command`` would have paused the script."""
    if isinstance(events, EventIndex):
        where = _candidates(command)
        found = _preceding(events, start, where)
        while found is not None and not wants_pause(command, events[found]):
            found = _preceding(events, found, where)
        return found
    for i in range(min(start, len(events)) - 1, -1, -1):
        if wants_pause(command, events[i]):
            return i
    return None


# ---------------------------------------------------------------- the cursor


@dataclass(frozen=True, slots=True)
class Cursor:
    """The event on screen (``events[event]``), and inside a backward pass the node shown."""

    event: int
    node: int | None = None


@dataclass(frozen=True, slots=True)
class Resume:
    """The events so far hold no stop: the engine must run ``command`` to find it."""

    command: Command


@dataclass(frozen=True, slots=True)
class EndOfRun:
    """Nothing more comes and no event ahead stops: the cursor rests on the last event."""

    cursor: Cursor

    @property
    def message(self) -> str:
        return END_OF_RUN


@dataclass(frozen=True, slots=True)
class NoEarlier:
    """No event before the cursor stops; the cursor stays, out of any backward pass."""

    cursor: Cursor
    #: What there is none of, in the words of the notification: ``event``, ``line``, …
    what: str

    @property
    def message(self) -> str:
        return f"no earlier {self.what}: this is as far back as the run goes"


#: Forward keys: ``op`` (s), ``line`` (n), ``event`` (e), ``continue`` (c).
FORWARD_KINDS: Final = ("op", "line", "event", "continue")
#: Backward keys and what a refusal says there is none of; ``start`` (C) always succeeds.
BACK_KINDS: Final = {"op": "event", "line": "line", "event": "backward, zero_grad, step or update", "start": ""}


def command_for(kind: str, breakpoints: Collection[tuple[str, int]] = (),
                stops: Sequence[EventStop] = ()) -> Command:
    """The command behind a forward key, e.g. ``Continue`` with the breakpoints for ``continue``."""
    if kind == "op":
        return StepOp()
    if kind == "line":
        return NextLine()
    if kind == "event":
        return NextEvent()
    if kind == "continue":
        return Continue(frozenset(breakpoints), tuple(stops))
    raise ValueError(f"no forward move '{kind}'; use one of: {', '.join(FORWARD_KINDS)}")


def _node_count(events: Sequence[Event], index: int) -> int:
    event = events[index] if 0 <= index < len(events) else None
    return len(event.nodes) if isinstance(event, BackwardDone | GradComputed) else 0


def forward(events: Sequence[Event], cursor: Cursor, kind: str, *, more_coming: bool,
            breakpoints: Collection[tuple[str, int]] = (),
            stops: Sequence[EventStop] = ()) -> Cursor | Resume | EndOfRun:
    """Where a forward key takes the cursor over ``events`` (the engine may add more: ``more_coming``).

    ``op`` on a backward pass (or an ``autograd.grad``) with nodes steps into it, node by
    node, and past the last node on to the next event; every other key steps over the pass.
    """
    command = command_for(kind, breakpoints, stops)
    nodes = _node_count(events, cursor.event) if kind == "op" else 0
    if nodes and (cursor.node is None or cursor.node < nodes - 1):
        return Cursor(cursor.event, 0 if cursor.node is None else cursor.node + 1)
    found = next_stop(events, cursor.event, command)
    if found is not None:
        return Cursor(found)
    if more_coming:
        return Resume(command)
    return EndOfRun(Cursor(max(0, len(events) - 1)))


def back(events: Sequence[Event], cursor: Cursor, kind: str) -> Cursor | NoEarlier:
    """Where a backward key takes the cursor: to the last event before it where the forward key would stop.

    ``op`` inside a backward pass steps back through its nodes, then onto the pass itself.
    """
    if kind not in BACK_KINDS:
        raise ValueError(f"no backward move '{kind}'; use one of: {', '.join(BACK_KINDS)}")
    if kind == "op" and cursor.node is not None:
        return Cursor(cursor.event, cursor.node - 1 if cursor.node > 0 else None)
    if kind == "start":
        return Cursor(0)
    found = prev_stop(events, cursor.event, command_for(kind))
    return Cursor(found) if found is not None else NoEarlier(Cursor(cursor.event), BACK_KINDS[kind])


def stop_notice(stops: Sequence[EventStop], event: Event | None) -> str | None:
    """What ``c`` says when it ends at ``event``: which event stop ended it, if one did."""
    why = first_reason(tuple(stops), event) if event is not None and stops else None
    return None if why is None else f"stopped: {why}"
