"""Two runs put side by side: one cursor over both, aligned step by step.

The side-by-side view (``gradtui --compare``) moves one cursor over two runs. The runs are
cut at their *anchors*: their optimizer steps, or their backward calls where neither run
has an optimizer, or their manual updates or watched values before that. Step ``k`` of
one run sits beside step ``k`` of the other, whatever happened in between. Within a step
(the events after anchor ``k − 1`` up to anchor ``k``), the events that take part in the
comparison are paired by their keys with ``difflib`` (``gradtui.model.event_match``), so
an added ``print`` or an extra op in one run leaves the rest paired. An event of one run
only moves that run's side; the other holds where it was. A step is paired the first time
the cursor enters it and kept, so a run of thousands of steps costs only what is looked at.

It also answers what the panels show at a position: each run's parameters, gradients,
optimizer step, and the loss and lr per aligned step. Must not import torch.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from gradtui.model.event_match import key, takes_part
from gradtui.model.events import (
    BackwardDone,
    Event,
    GradsClipped,
    GradsUnscaled,
    GradsZeroed,
    ParamsUpdated,
    StepTaken,
)
from gradtui.model.index import EventIndex, IndexedEvents
from gradtui.model.run_places import PlaceMap
from gradtui.model.tensors import TensorSummary
from gradtui.model.timeline import Timeline
from gradtui.model.tolerance import Gap, Tolerance, tensor_gap

#: What the runs are cut at, in order of preference: the first kind either run has.
ANCHOR_KINDS = ("step", "update", "backward", "watch")
#: What each anchor kind is called on screen.
UNIT_NAMES = {"step": "step", "update": "update", "backward": "backward", "watch": "value"}
_GRAD_KINDS = [BackwardDone.kind, GradsZeroed.kind, GradsClipped.kind, GradsUnscaled.kind]
_PARAM_KINDS = [StepTaken.kind, ParamsUpdated.kind]


@dataclass(frozen=True, slots=True)
class Pair:
    """One cursor position: the event each run is at, and which of them moved to get there."""

    a: int
    b: int
    #: "both", "a" (only run A moved: an event of its own) or "b".
    moved: str


def indexed(run: Timeline) -> EventIndex:
    """A run's events with the index the questions below need (a recording's already have one)."""
    return run.events if isinstance(run.events, EventIndex) else IndexedEvents(run.events)


class RunPair:
    """Two runs, their places, anchors and the pairs of each step (built as they are asked for)."""

    def __init__(self, a: Timeline, b: Timeline, places: PlaceMap) -> None:
        self.runs = (a, b)
        self.events = (indexed(a), indexed(b))
        self.places = places
        self.unit = next((k for k in ANCHOR_KINDS if any(ev.positions([k]) for ev in self.events)), None)
        self.anchors: tuple[list[int], list[int]] = (
            (self.events[0].positions([self.unit]), self.events[1].positions([self.unit])) if self.unit else ([], []))
        #: Steps (segments) the cursor moves over: one per anchor of the longer run, plus what follows the last.
        self.segments = max(len(self.anchors[0]), len(self.anchors[1])) + 1
        self._pairs: dict[int, list[Pair]] = {}

    @property
    def unit_name(self) -> str:
        return UNIT_NAMES.get(self.unit or "", "event")

    def _bounds(self, side: int, k: int) -> tuple[int, int]:
        """Run ``side``'s events of segment ``k`` as ``range`` bounds: after anchor ``k − 1``, up to anchor ``k``.

        After its last anchor a run's tail is one more segment; past that its segments are empty.
        """
        anchors, n = self.anchors[side], len(self.events[side])
        if k == 0:
            start = 0
        elif k - 1 < len(anchors):
            start = anchors[k - 1] + 1
        else:
            return n, n
        end = anchors[k] + 1 if k < len(anchors) else n
        return start, end

    def pairs(self, k: int) -> list[Pair]:
        """The cursor positions of segment ``k`` (step ``k + 1`` ends it), never empty."""
        found = self._pairs.get(k)
        if found is None:
            found = self._pairs[k] = self._pair_segment(k)
        return found

    def _held(self, side: int, k: int) -> int:
        """Where run ``side`` stands when segment ``k`` begins (its last event before it)."""
        start, _ = self._bounds(side, k)
        return max(0, min(start, len(self.events[side])) - 1)

    def _pair_segment(self, k: int) -> list[Pair]:
        sides = []
        for side in (0, 1):
            start, end = self._bounds(side, k)
            events = self.events[side]
            chosen = []
            for i in range(start, end):
                event = events[i]
                place = self.places.place(side, event.file, event.line)
                if takes_part(event, place):
                    chosen.append((i, key(event, place)))
            sides.append(chosen)
        ea, eb = sides
        at_a, at_b = self._held(0, k), self._held(1, k)
        out: list[Pair] = []
        matcher = difflib.SequenceMatcher(None, [x[1] for x in ea], [x[1] for x in eb], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                for da, db in zip(ea[i1:i2], eb[j1:j2]):
                    at_a, at_b = da[0], db[0]
                    out.append(Pair(at_a, at_b, "both"))
                continue
            for da in ea[i1:i2]:
                at_a = da[0]
                out.append(Pair(at_a, at_b, "a"))
            for db in eb[j1:j2]:
                at_b = db[0]
                out.append(Pair(at_a, at_b, "b"))
        return out or [Pair(at_a, at_b, "both")]

    def segment_of(self, side: int, seq: int) -> int:
        """The segment holding event ``seq`` of run ``side``."""
        return bisect.bisect_left(self.anchors[side], seq)

    def locate(self, a: int | None, b: int | None) -> tuple[int, int]:
        """The cursor (segment, index) nearest to the events ``a`` and ``b`` (a divergence's)."""
        side, seq = (0, a) if a is not None else (1, b if b is not None else 0)
        k = min(self.segment_of(side, seq), self.segments - 1)
        pairs = self.pairs(k)
        for i, pair in enumerate(pairs):
            if (pair.a if side == 0 else pair.b) >= seq:
                return k, i
        return k, len(pairs) - 1


def params_at(events: EventIndex, upto: int) -> dict[str, TensorSummary | None]:
    """Each parameter's value at event ``upto``: after the latest step or update, else before the first one."""
    out: dict[str, TensorSummary | None] = {}
    for i in reversed(events.last_positions(_PARAM_KINDS, upto, 8)):
        event = events[i]
        if isinstance(event, (StepTaken, ParamsUpdated)):
            for name, change in event.params.items():
                out.setdefault(name, change.after)
    following = events.following(_PARAM_KINDS, upto)
    if following is not None:
        event = events[following]
        if isinstance(event, (StepTaken, ParamsUpdated)):
            for name, change in event.params.items():
                out.setdefault(name, change.before)
    return dict(sorted(out.items()))


def grads_at(events: EventIndex, upto: int) -> dict[str, TensorSummary | None]:
    """Each leaf's ``.grad`` at event ``upto``, as the latest events that wrote gradients left it."""
    out: dict[str, TensorSummary | None] = {}
    for i in reversed(events.last_positions(_GRAD_KINDS, upto, 8)):
        event = events[i]
        if isinstance(event, (BackwardDone, GradsZeroed, GradsClipped, GradsUnscaled)):
            for name, change in event.grads.items():
                out.setdefault(name, change.after)
    return dict(sorted(out.items()))


def step_at(events: EventIndex, upto: int) -> StepTaken | None:
    """The latest optimizer step at or before ``upto``: its hyperparameters and state."""
    found = events.latest([StepTaken.kind], upto)
    event: Event | None = None if found is None else events[found]
    return event if isinstance(event, StepTaken) else None


def per_anchor(events: EventIndex, anchors: Sequence[int]) -> tuple[list[float | None], list[float | None]]:
    """The loss (of the latest backward) and the lr (first group) at each anchor: the plot's two series."""
    losses: list[float | None] = []
    lrs: list[float | None] = []
    backwards = events.positions([BackwardDone.kind])
    steps = events.positions([StepTaken.kind])
    for anchor in anchors:
        i = bisect.bisect_right(backwards, anchor) - 1
        event = events[backwards[i]] if i >= 0 else None
        losses.append(event.loss if isinstance(event, BackwardDone) else None)
        j = bisect.bisect_right(steps, anchor) - 1
        step = events[steps[j]] if j >= 0 else None
        lr = step.hyperparams[0].get("lr") if isinstance(step, StepTaken) and step.hyperparams else None
        lrs.append(float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None)
    return losses, lrs


@dataclass(frozen=True, slots=True)
class ParamGap:
    """The largest difference of one parameter between the runs over their aligned steps."""

    name: str
    size: float | None
    #: The aligned step (from 1) where it was largest, and the words for it.
    step: int
    text: str
    #: False when it was measured on statistics only (values not kept).
    exact: bool


def param_gaps(pair: RunPair, tol: Tolerance) -> list[ParamGap]:
    """For each parameter both runs have, its largest difference after any aligned step (one query per step)."""
    best: dict[str, ParamGap] = {}
    ea, eb = pair.events
    for k, (x, y) in enumerate(zip(*pair.anchors), start=1):
        pa, pb = params_at(ea, x), params_at(eb, y)
        for name in pa.keys() & pb.keys():
            gap = tensor_gap(pa[name], pb[name], tol) or Gap("agree", 0.0)
            held = best.get(name)
            size = gap.size
            if held is None or (size is not None and (held.size is None or size > held.size)):
                best[name] = ParamGap(name, size, k, gap.text, gap.exact)
    return [best[name] for name in sorted(best)]
