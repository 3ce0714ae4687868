"""Questions about what real training loops do besides backward and step, for the panels.

The modes the script set (``train()`` / ``eval()``, ``no_grad``, ``inference_mode``), the
hooks that ran inside a backward pass, the learning rate each ``scheduler.step()`` left:
each read from a bounded window of recent events, so that a redraw costs the same on a
run of any length. Pure functions of model values: no torch, no textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from gradtui.model.events import BackwardDone, Event, GradComputed, GradHooked, LrScheduled, ModeSet
from gradtui.model.history import last_index, latest
from gradtui.model.index import EventIndex
from gradtui.model.thinning import ThinnedPoints

A = TypeVar("A", bound=Event)


#: ``mode`` events read back for the status line: enough for a few models and grad mode.
MODE_WINDOW = 32


def modes_at(events: Sequence[Event], upto: int) -> tuple[dict[str, str], str]:
    """``({module: "train" | "eval"}, grad mode)`` as the script last set them, up to ``upto``.

    The grad mode is ``grad`` until the script switches it (``no_grad``, ``inference``);
    modules are those the script called ``train()`` / ``eval()`` on, in the order of their
    latest call, among the last ``MODE_WINDOW`` switches.
    """
    last = last_index(events, upto)
    picked: Sequence[Event]
    if isinstance(events, EventIndex):
        picked = [events[i] for i in events.last_positions([ModeSet.kind], last, MODE_WINDOW)]
    else:
        picked = [e for e in events[: last + 1] if isinstance(e, ModeSet)][-MODE_WINDOW:]
    modules: dict[str, str] = {}
    grad = "grad"
    for e in picked:
        if isinstance(e, ModeSet):
            if e.target == "grad":
                grad = e.mode
            else:
                modules.pop(e.target, None)
                modules[e.target] = e.mode
    return modules, grad


#: ``schedule`` and ``step`` events the optimizer panel reads back from the cursor.
SCHEDULE_WINDOW = 64


def recent(events: Sequence[Event], upto: int, kind: type[A], window: int) -> list[A]:
    """The last ``window`` events of ``kind`` up to ``upto``, in order."""
    last = last_index(events, upto)
    if isinstance(events, EventIndex):
        found = [events[i] for i in events.last_positions([kind.kind], last, window)]
    else:
        found = []
        for i in range(last, -1, -1):
            if isinstance(events[i], kind):
                found.append(events[i])
                if len(found) == window:
                    break
        found.reverse()
    return [e for e in found if isinstance(e, kind)]


#: Hooks of one backward pass read back at most (each runs once per node it sits on).
HOOK_WINDOW = 256


def hooks_of(events: Sequence[Event], event: BackwardDone | GradComputed) -> list[GradHooked]:
    """The hooks the script registered that ran during the pass ``event`` records, in order.

    They are recorded as they run, so they come just before the pass's own event and
    after the previous pass (at most the last ``HOOK_WINDOW``).
    """
    if event.seq == 0:
        return []
    previous = latest(events, event.seq - 1, (BackwardDone, GradComputed))
    start = -1 if previous is None else previous.seq
    if isinstance(events, EventIndex):
        found = events.last_positions([GradHooked.kind], event.seq - 1, HOOK_WINDOW)
        picked = [events[i] for i in found if i > start]
    else:
        picked = list(events[start + 1:event.seq])
    return [e for e in picked if isinstance(e, GradHooked)]


def lr_series(events: Sequence[Event], upto: int, most: int) -> ThinnedPoints:
    """The lr the latest ``most`` ``scheduler.step()`` calls left (first group of the first
    scheduler seen), numbered from 1 over the whole run: what the plot draws for ``r``."""
    picked = recent(events, upto, LrScheduled, most)
    if not picked:
        return ThinnedPoints((), 0, exact=True)
    first = picked[0].scheduler.name
    if isinstance(events, EventIndex):
        total = events.count_of(LrScheduled.kind, last_index(events, upto))
    else:
        total = sum(1 for e in events[: last_index(events, upto) + 1] if isinstance(e, LrScheduled))
    start = total - len(picked)
    points = []
    for i, e in enumerate(picked, start=start + 1):
        lr = e.lrs[0][1] if e.lrs else None
        if e.scheduler.name == first and lr is not None:
            points.append((float(i), float(lr)))
    return ThinnedPoints(tuple(points), len(points), exact=True)
