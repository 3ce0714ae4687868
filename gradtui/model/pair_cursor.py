"""The one cursor of the side-by-side view, and how each key moves it over a ``RunPair``.

A position is (segment, index): segment ``k`` holds the events of step ``k + 1`` (or of
what follows the last step), ``index`` one of its pairs (``RunPair.pairs``). The moves are
pure functions of the pair and the position, so they are tested without the app. Must not
import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradtui.model.events import EVENT_TYPES
from gradtui.model.run_pairs import Pair, RunPair


@dataclass(frozen=True, slots=True)
class Spot:
    segment: int
    index: int


def pair_at(runs: RunPair, spot: Spot) -> Pair:
    return runs.pairs(spot.segment)[spot.index]


def next_pair(runs: RunPair, spot: Spot) -> Spot:
    """One pair on (``n``), into the next step at the end of this one; the last pair stays."""
    if spot.index + 1 < len(runs.pairs(spot.segment)):
        return Spot(spot.segment, spot.index + 1)
    if spot.segment + 1 < runs.segments:
        return Spot(spot.segment + 1, 0)
    return spot


def previous_pair(runs: RunPair, spot: Spot) -> Spot:
    if spot.index > 0:
        return Spot(spot.segment, spot.index - 1)
    if spot.segment > 0:
        return Spot(spot.segment - 1, len(runs.pairs(spot.segment - 1)) - 1)
    return spot


def _is_milestone(runs: RunPair, pair: Pair) -> bool:
    ea, eb = runs.events[0][pair.a], runs.events[1][pair.b]
    return ((pair.moved != "b" and EVENT_TYPES[ea.kind].is_milestone)
            or (pair.moved != "a" and EVENT_TYPES[eb.kind].is_milestone))


def next_milestone(runs: RunPair, spot: Spot) -> Spot:
    """On to the next pair where either run changes gradients or parameters (``e``)."""
    here = spot
    while True:
        on = next_pair(runs, here)
        if on == here:
            return spot
        here = on
        if _is_milestone(runs, pair_at(runs, here)):
            return here


def previous_milestone(runs: RunPair, spot: Spot) -> Spot:
    here = spot
    while True:
        back = previous_pair(runs, here)
        if back == here:
            return spot
        here = back
        if _is_milestone(runs, pair_at(runs, here)):
            return here


def step_end(runs: RunPair, segment: int) -> Spot:
    """The last pair of ``segment``: its step (``→`` / ``←`` move by these)."""
    segment = max(0, min(segment, runs.segments - 1))
    return Spot(segment, len(runs.pairs(segment)) - 1)


def steps_done(runs: RunPair, spot: Spot) -> int:
    """How many aligned steps are behind the cursor (the step shown counts once reached)."""
    anchors = runs.anchors[0] if len(runs.anchors[0]) >= len(runs.anchors[1]) else runs.anchors[1]
    side = 0 if anchors is runs.anchors[0] else 1
    pair = pair_at(runs, spot)
    seq = pair.a if side == 0 else pair.b
    return sum(1 for a in anchors[: spot.segment + 1] if a <= seq)
