"""Updates made by hand, one iteration at a time: what the Parameters panel shows for them.

A script that writes ``a -= lr * a.grad`` for each parameter makes one ``update`` event per
parameter and line. A learner thinks of them as one step of gradient descent, so they are
grouped: the updates since the backward (or step, or zero_grad) before them, the same parameter
updated twice (weight decay, then the step) read as one change from its first value to
its last. Pure functions of model values: no torch, no textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gradtui.model import history
from gradtui.model.events import BackwardDone, Change, Event, GradsZeroed, ParamsUpdated, StepTaken

#: A group holds at most this many events (a model updated by hand has one per parameter).
GROUP_LIMIT = 500

_BOUNDARIES = (BackwardDone, StepTaken, GradsZeroed)


@dataclass(frozen=True, slots=True)
class UpdateRow:
    """One parameter's change over a group: its first ``before``, its last ``after``."""

    name: str
    change: Change
    #: How each update in the group wrote it (``-=``, ``sub_``), with its line, in order.
    ops: tuple[tuple[str, int], ...]


def update_group(events: Sequence[Event], upto: int) -> list[ParamsUpdated]:
    """The latest updates made by hand up to ``upto``, oldest first: one iteration's worth.

    The group ends at the last update up to ``upto`` and starts after the backward, step or
    zero_grad that preceded it; it stays the latest group while a backward follows it.
    Empty when there is no update. At most ``GROUP_LIMIT`` events: the latest ones.
    """
    last = history.latest(events, upto, (ParamsUpdated,))
    if last is None:
        return []
    boundary = history.latest(events, last.seq, _BOUNDARIES)
    start = -1 if boundary is None else boundary.seq
    group: list[ParamsUpdated] = []
    found: ParamsUpdated | None = last
    while found is not None and found.seq > start and len(group) < GROUP_LIMIT:
        group.append(found)
        found = history.latest(events, found.seq - 1, (ParamsUpdated,)) if found.seq else None
    group.reverse()
    return group


def update_rows(group: Sequence[ParamsUpdated]) -> list[UpdateRow]:
    """One row per parameter, in order of its first update in ``group``.

    A later update continues a row when it has the row's name and starts from the row's
    last value: two tensors the script calls by one name (``param`` in ``for param in
    model.parameters()``) stay two rows.
    """
    rows: list[tuple[str, Change, list[tuple[str, int]]]] = []
    for event in group:
        for name, change in event.params.items():
            for i in range(len(rows) - 1, -1, -1):
                row_name, row_change, ops = rows[i]
                after = row_change.after
                if row_name == name and (after is change.before or after == change.before):
                    rows[i] = (name, Change(row_change.before, change.after), ops)
                    ops.append((event.op, event.line))
                    break
            else:
                rows.append((name, change, [(event.op, event.line)]))
    return [UpdateRow(name, change, tuple(ops)) for name, change, ops in rows]


def lines_text(group: Sequence[ParamsUpdated]) -> str:
    """``line 29`` or ``lines 26–29``: where the group's updates were written."""
    lines = sorted({event.line for event in group})
    if not lines:
        return ""
    if len(lines) == 1:
        return f"line {lines[0]}"
    return f"lines {lines[0]}–{lines[-1]}"
