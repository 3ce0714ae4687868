"""The first event where two runs part: in what happened, where it happened, or a value.

Both runs are walked together, event by event, over the events that take part
(``gradtui.model.event_match``). The first pair whose keys differ is a difference in
control flow (the runs went to different lines) or in the events' kind or order; the
first matched pair whose recorded values differ beyond the tolerance is a difference in
value; a run that ends while the other goes on is one too. The walk reads each run once,
in order, so it works in constant memory on recordings of any length.

The sentence names the value as a user would look for it: ``net.0.weight after step
37: max |Δ| 3.1e-04 (rtol 1e-05, atol 1e-08)``. Steps are counted as the walk passes
them (both runs agree on their count up to the divergence); a run without an optimizer
counts its backward calls instead. Must not import torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gradtui.model.event_match import hyper_gaps, key, phrase, takes_part, value_gap
from gradtui.model.events import BackwardDone, DetailDropped, Event, LineReached, StepTaken
from gradtui.model.run_places import Place, PlaceMap
from gradtui.model.timeline import Timeline
from gradtui.model.tolerance import Tolerance

#: ``Divergence.reason``: what kind of difference it is.
REASONS = ("value", "control flow", "events", "end", "exit")


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where two runs first differ: the event of each (None where that run had ended) and why."""

    a: int | None
    b: int | None
    reason: str
    #: The sentence the status line and ``gradtui diff`` show.
    text: str
    #: Optimizer steps (or, without an optimizer, backward calls) both runs had completed.
    steps: int
    #: The largest ``|Δ|`` for a difference in value, when it has one.
    size: float | None = None


@dataclass(frozen=True, slots=True)
class Walk:
    """The outcome of walking two runs together."""

    divergence: Divergence | None
    #: Events compared pairwise (the walk's length in each run, up to the divergence).
    compared: int
    steps: int
    #: Why the walk stopped before either run's end without a divergence (detail not kept).
    stopped: str | None = None


def places_of(a: Timeline, b: Timeline) -> PlaceMap:
    return PlaceMap(a.script, a.sources, b.script, b.sources)


def _taking_part(run: Timeline, side: int, places: PlaceMap) -> Iterator[tuple[Event, Place | None]]:
    for event in run.events:
        place = places.place(side, event.file, event.line)
        if takes_part(event, place):
            yield event, place


def counts_steps(a: Timeline, b: Timeline) -> bool:
    """Whether the runs are counted in optimizer steps (either took one), else in backward calls."""
    return any(_has_kind(t, "step") for t in (a, b))


def _has_kind(run: Timeline, kind: str) -> bool:
    positions = getattr(run.events, "positions", None)
    if positions is not None:
        return bool(positions([kind]))
    return any(e.kind == kind for e in run.events)


def first_divergence(a: Timeline, b: Timeline, tol: Tolerance, places: PlaceMap | None = None) -> Walk:
    """Walk ``a`` and ``b`` together to the first event where they differ (``Walk.divergence``)."""
    places = places_of(a, b) if places is None else places
    by_steps = counts_steps(a, b)
    unit = StepTaken if by_steps else BackwardDone
    walk_a, walk_b = _taking_part(a, 0, places), _taking_part(b, 1, places)
    done = compared = 0
    while True:
        pa, pb = next(walk_a, None), next(walk_b, None)
        if pa is None or pb is None:
            if pa is None and pb is None:
                return Walk(_exits(a, b, done), compared, done)
            return Walk(_ended(pa, pb, done, by_steps, a, b), compared, done)
        (ea, place_a), (eb, place_b) = pa, pb
        if isinstance(ea, DetailDropped) or isinstance(eb, DetailDropped):
            which = "A" if isinstance(ea, DetailDropped) else "B"
            return Walk(None, compared, done, stopped=f"run {which} kept no detail from {_unit(by_steps)} {done + 1} "
                                                      "on (--keep-steps); compared up to there")
        if key(ea, place_a) != key(eb, place_b):
            return Walk(_apart(ea, eb, a, b, done, by_steps), compared, done)
        found = value_gap(ea, eb, tol)
        if found is not None:
            name, gap = found
            when = _when(ea, done, by_steps)
            text = f"{name} {when}: {gap.text} ({tol.text()})"
            if isinstance(ea, StepTaken) and isinstance(eb, StepTaken):
                hyper = hyper_gaps(ea, eb, tol)
                if hyper:
                    text += "; " + ", ".join(hyper)
            return Walk(Divergence(ea.seq, eb.seq, "value", text, done, gap.size), compared, done)
        compared += 1
        if isinstance(ea, unit):
            done += 1


def _unit(by_steps: bool) -> str:
    return "step" if by_steps else "backward"


def _when(event: Event, done: int, by_steps: bool) -> str:
    if by_steps:
        if isinstance(event, StepTaken):
            return f"after step {done + 1}"
        return f"at {phrase(event)}, before step {done + 1}"
    if isinstance(event, BackwardDone):
        return f"after backward {done + 1}"
    return f"at {phrase(event)}, before backward {done + 1}"


def _line_text(run: Timeline, event: Event) -> str:
    lines = run.sources.get(event.file, "").splitlines()
    text = lines[event.line - 1].strip() if 0 < event.line <= len(lines) else ""
    return f"line {event.line}" + (f" ({text})" if text else "")


def _apart(ea: Event, eb: Event, a: Timeline, b: Timeline, done: int, by_steps: bool) -> Divergence:
    where = f"after {done} {_unit(by_steps)}{'s' if done != 1 else ''}" if done else "before any " + _unit(by_steps)
    if isinstance(ea, LineReached) or isinstance(eb, LineReached):
        to_a = _line_text(a, ea) if isinstance(ea, LineReached) else phrase(ea)
        to_b = _line_text(b, eb) if isinstance(eb, LineReached) else phrase(eb)
        text = f"control flow, {where}: run A goes to {to_a}, run B to {to_b}"
        return Divergence(ea.seq, eb.seq, "control flow", text, done)
    return Divergence(ea.seq, eb.seq, "events", f"events, {where}: run A has {phrase(ea)}, run B {phrase(eb)}", done)


def _ended(pa: tuple[Event, Place | None] | None, pb: tuple[Event, Place | None] | None, done: int,
           by_steps: bool, a: Timeline, b: Timeline) -> Divergence:
    unit = _unit(by_steps)
    counted = f"{done} {unit}{'s' if done != 1 else ''}"
    if pa is None:
        assert pb is not None
        return Divergence(None, pb[0].seq, "end", f"run A ended ({a.status}) after {counted}; run B goes on with "
                                                  f"{phrase(pb[0])}", done)
    return Divergence(pa[0].seq, None, "end", f"run B ended ({b.status}) after {counted}; run A goes on with "
                                              f"{phrase(pa[0])}", done)


def _exits(a: Timeline, b: Timeline, done: int) -> Divergence | None:
    if (a.status, a.exit_code) == (b.status, b.exit_code):
        return None
    code_a = f"{a.status}" + (f", exit code {a.exit_code}" if a.exit_code is not None else "")
    code_b = f"{b.status}" + (f", exit code {b.exit_code}" if b.exit_code is not None else "")
    return Divergence(None, None, "exit", f"the runs ended differently: run A {code_a}, run B {code_b}", done)
