"""The kind index answers every history question exactly as a scan of the events does."""

from __future__ import annotations

import pytest

from gradtui.model import history
from gradtui.model.events import BackwardDone, GradsZeroed, OpCalled, StepTaken
from gradtui.model.index import IndexedEvents
from gradtui.model.navigation import Continue, NextEvent, NextLine, next_stop, prev_stop
from tests.conftest import SCENARIOS


def test_indexed_answers_equal_scanned_answers(run_script) -> None:
    for name in ("accumulation.py", "sgd_loop.py", "adam.py"):
        events = run_script(SCENARIOS / name).events
        indexed = IndexedEvents(events)
        commands = [NextLine(), NextEvent(), Continue(frozenset({(name, 17), (name, 14)})), Continue()]
        for upto in range(len(events)):
            for kinds in ((BackwardDone,), (StepTaken, GradsZeroed), (OpCalled,)):
                assert history.latest(indexed, upto, kinds) == history.latest(events, upto, kinds)
            assert history.count(indexed, upto, StepTaken) == history.count(events, upto, StepTaken)
            assert history.grad_history(indexed, upto) == history.grad_history(events, upto)
            assert history.loss_points(indexed, upto) == history.loss_points(events, upto)
            assert history.position(indexed, upto, True) == history.position(events, upto, True)
            for command in commands:
                assert next_stop(indexed, upto, command) == next_stop(events, upto, command)
                assert prev_stop(indexed, upto, command) == prev_stop(events, upto, command)


def test_the_index_follows_a_growing_timeline(run_script) -> None:
    events = list(run_script(SCENARIOS / "accumulation.py").events)
    growing = events[:8]
    indexed = IndexedEvents(growing)
    assert history.backward_number(indexed, 7) == 0
    growing.extend(events[8:])
    assert len(indexed) == 8  # appended, not yet reported: not for the app to read
    indexed.know(len(growing))
    last = len(events) - 1
    assert history.backward_number(indexed, last) == 6  # accumulation.py calls backward six times


def test_the_index_refuses_a_count_beyond_the_recorded_events() -> None:
    with pytest.raises(ValueError, match="3 events reported, 0 recorded"):
        IndexedEvents([]).know(3)


def test_indexing_and_slicing_see_only_the_reported_events(run_script) -> None:
    events = list(run_script(SCENARIOS / "accumulation.py").events)
    known = IndexedEvents(events, known=6)
    for part in (slice(None), slice(2, None), slice(-3, None), slice(None, None, -1), slice(1, 100), slice(4, 1, -2)):
        assert list(known[part]) == events[:6][part]
    assert known[-1] is events[5] and list(known) == events[:6]
    with pytest.raises(IndexError):
        known[6]
