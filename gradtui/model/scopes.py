"""The script's variables at any event, folded back from the line events' deltas.

Each line event carries what changed in its frame since that frame's last look
(``ScopeDelta``), and every ``KEYFRAME_EVERY``-th delta of a frame holds all of it. So the
variables at event ``k`` are those of the latest line event up to ``k``: follow ``since``
back to the frame's last full delta, then apply the deltas forward. At most a keyframe's
worth of events is read, in memory or from a recording, with torch or without.

A caller's variables are those it had at its own latest line before the call: while a
callee runs, the engine looks only at the innermost frame (a caller's tensor changed in
place by the callee shows its new values in the callee, under the callee's name).
Must not import torch or textual.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from weakref import WeakKeyDictionary

from gradtui.model.events import DetailDropped, Event, LineReached
from gradtui.model.index import EventIndex
from gradtui.model.scope_overlay import overlay
from gradtui.model.variables import KEYFRAME_EVERY, FrameRef, ScopeDelta, Var, resolved

#: Where no line event up to the cursor carries a scope: the run recorded no variables.
NOT_RECORDED: Final = "this run recorded no variables (it was made with --no-variables, or by an older gradtui)"
#: How far back a caller's latest line is looked for before giving up.
_CALLER_SEARCH: Final = 20_000
#: A history lists at most this many changes, the latest ones.
HISTORY_LIMIT: Final = 200


@dataclass(frozen=True, slots=True)
class FrameVars:
    """One frame's variables at an event, in the order the script bound them."""

    ref: FrameRef
    variables: Mapping[str, Var]
    #: False where part of the fold was not kept (``--keep-steps`` dropped the events).
    complete: bool = True


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A variable (or a member of one) as it was after the line event ``seq`` saw it change."""

    seq: int
    line: int
    value: Var | None


def latest_line(events: Sequence[Event], upto: int) -> int | None:
    """The latest line event at or before ``upto``: the line the innermost frame is on."""
    if not events:
        return None
    upto = min(upto, len(events) - 1)
    if isinstance(events, EventIndex):
        return events.latest([LineReached.kind], upto)
    for i in range(upto, -1, -1):
        if isinstance(events[i], LineReached):
            return i
    return None


def _scope_at(events: Sequence[Event], i: int) -> ScopeDelta | None:
    event = events[i] if 0 <= i < len(events) else None
    return event.scope if isinstance(event, LineReached) else None


def stack_at(events: Sequence[Event], upto: int) -> tuple[FrameRef, ...]:
    """The script's frames at ``upto``, innermost first (empty: no variables were recorded)."""
    i = latest_line(events, upto)
    if i is None:
        return ()
    line = events[i]
    assert isinstance(line, LineReached)
    scope = line.scope
    if scope is None:
        return ()
    here = FrameRef(scope.frame, line.function, line.file, line.line)
    full = _full_delta(events, i, scope.frame)
    callers = full[1].callers if full is not None else ()
    return (here, *callers)


def _full_delta(events: Sequence[Event], i: int, frame: int) -> tuple[int, ScopeDelta] | None:
    """The frame's last full delta at or before line event ``i``, following ``since``."""
    pos: int | None = i
    for _ in range(KEYFRAME_EVERY * 2 + 2):
        scope = _scope_at(events, pos) if pos is not None else None
        if scope is None or scope.frame != frame:
            return None
        if scope.full:
            return pos, scope  # type: ignore[return-value]
        pos = scope.since
    return None


def frame_vars(events: Sequence[Event], upto: int, depth: int = 0) -> FrameVars | None:
    """The variables of the frame ``depth`` levels out from the innermost, at ``upto``."""
    stack = stack_at(events, upto)
    if depth >= len(stack):
        return None
    ref = stack[depth]
    i = latest_line(events, upto) if depth == 0 else _caller_line(events, upto, stack, depth)
    if i is None:
        return FrameVars(ref, {}, complete=False)
    variables, complete = fold(events, i, ref.frame)
    if depth == 0 and i < upto:
        overlay(events, i, upto, variables)
    return FrameVars(ref, variables, complete)


def _caller_line(events: Sequence[Event], upto: int, stack: tuple[FrameRef, ...], depth: int) -> int | None:
    """The latest line event of ``stack[depth]`` before the call to ``stack[depth - 1]``."""
    inner = latest_line(events, upto)
    for level in range(1, depth + 1):
        if inner is None:
            return None
        full = _full_delta(events, inner, stack[level - 1].frame)
        if full is None:
            return None
        inner = _line_of_frame(events, full[0] - 1, stack[level].frame)
    return inner


def _line_of_frame(events: Sequence[Event], upto: int, frame: int) -> int | None:
    pos = latest_line(events, upto) if upto >= 0 else None
    for _ in range(_CALLER_SEARCH):
        if pos is None:
            return None
        scope = _scope_at(events, pos)
        if scope is not None and scope.frame == frame:
            return pos
        pos = latest_line(events, pos - 1) if pos > 0 else None
    return None


def fold(events: Sequence[Event], i: int, frame: int) -> tuple[dict[str, Var], bool]:
    """``(variables, complete)`` of ``frame`` at its line event ``i``: deltas back to a full one, applied forward.

    An index's folds are remembered (a few dozen, the latest): every panel and key asks
    again at the same event, and a recording reads each delta from disk.
    """
    if not isinstance(events, EventIndex):
        return _fold(events, i, frame)
    folds = _FOLDS.setdefault(events, OrderedDict())
    key = (i, frame)
    found = folds.get(key)
    if found is None:
        found = folds[key] = _fold(events, i, frame)
        if len(folds) > _FOLDS_KEPT:
            folds.popitem(last=False)
    return dict(found[0]), found[1]


#: Folds remembered per index (by the index itself, so a timeline's go with it).
_FOLDS: WeakKeyDictionary[EventIndex, OrderedDict[tuple[int, int], tuple[dict[str, Var], bool]]] = \
    WeakKeyDictionary()
_FOLDS_KEPT: Final = 64


def _fold(events: Sequence[Event], i: int, frame: int) -> tuple[dict[str, Var], bool]:
    chain: list[ScopeDelta] = []
    pos: int | None = i
    complete = False
    for _ in range(KEYFRAME_EVERY * 2 + 2):
        if pos is None:
            complete = True  # the frame's first delta: nothing came before
            break
        if isinstance(events[pos], DetailDropped):
            break
        scope = _scope_at(events, pos)
        if scope is None or scope.frame != frame:
            break
        chain.append(scope)
        if scope.full:
            complete = True
            break
        pos = scope.since
    variables: dict[str, Var] = {}
    for scope in reversed(chain):
        if scope.full:
            variables = {name: resolved(value) for name, value in scope.changed.items()}
            continue
        for name in scope.gone:
            variables.pop(name, None)
        for name, value in scope.changed.items():
            variables[name] = resolved(value)
    return variables, complete


def member(value: Var | None, path: Sequence[str]) -> Var | None:
    """The member at ``path`` under ``value`` (``("0.weight",)`` of a module)."""
    for key in path:
        if value is None:
            return None
        value = value.member(key)
    return value


def history(events: Sequence[Event], upto: int, frame: int, name: str, path: Sequence[str] = (),
            limit: int = HISTORY_LIMIT) -> list[HistoryEntry]:
    """Each line event of ``frame`` up to ``upto`` where ``name`` (and its member ``path``) changed, oldest first.

    Deltas record a whole variable when any part of it changed (a module when one parameter
    did), so entries where the member asked for stayed the same are left out.
    """
    i = latest_line(events, upto)
    here = _scope_at(events, i) if i is not None else None
    if i is not None and (here is None or here.frame != frame):
        i = _line_of_frame(events, i, frame)
    seen: list[HistoryEntry] = []
    pos: int | None = i
    steps = 0
    while pos is not None and len(seen) <= limit * 4 and steps < 100_000:
        steps += 1
        event = events[pos]
        scope = event.scope if isinstance(event, LineReached) else None
        if scope is None or scope.frame != frame:
            break
        if name in scope.changed:
            seen.append(HistoryEntry(pos, event.line, member(resolved(scope.changed[name]), path)))
        elif name in scope.gone:
            seen.append(HistoryEntry(pos, event.line, None))
        pos = scope.since
    seen.reverse()
    out: list[HistoryEntry] = []
    for entry in seen:
        if out and out[-1].value == entry.value:
            continue
        out.append(entry)
    return out[-limit:]
