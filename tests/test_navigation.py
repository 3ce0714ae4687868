"""The keys' moves without Textual, over runs the engine recorded, and the engine agreeing with them.

Each move is checked against what the events are (the tutorial's gradients, the script's
own lines, torch's order of a backward pass), not against what the code answered last
time; and for each command the engine is run pause by pause and compared with the walk
the app makes through the finished timeline.
"""

from __future__ import annotations

import ast
import functools
import textwrap
from pathlib import Path

import pytest

from gradtui.model.events import BackwardDone, Event, LineReached
from gradtui.model.index import IndexedEvents
from gradtui.model.navigation import (
    Command,
    Continue,
    Cursor,
    EndOfRun,
    NextEvent,
    NextLine,
    NoEarlier,
    Resume,
    StepOp,
    back,
    command_for,
    forward,
    stop_notice,
    stopping_kinds,
    wants_pause,
)
from gradtui.model.stops import EventStop
from gradtui.model.timeline import Timeline
from tests.conftest import SCENARIOS, SCRIPTS
from tests.helpers import flat

WAIT = 30.0
ACCUMULATION = SCENARIOS / "accumulation.py"
MILESTONES = {"backward", "zero_grad", "step", "update"}  # what the README says e / E stop on

UPDATES = """\
import torch
w = torch.tensor([1.0, -2.0], requires_grad=True)
for _ in range(2):
    loss = (w * w).sum()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    w.grad = None
print(w)
"""


@functools.cache
def recorded(path: Path) -> Timeline:
    """The finished timeline of one run of ``path`` (each script is run once per test session)."""
    from gradtui.engine.script import load_script
    from gradtui.engine.session import Session

    session = Session(load_script(str(path)))
    session.start()
    assert session.join(60), f"{path} did not finish"
    return session.timeline


def events_of(path: Path) -> IndexedEvents:
    return IndexedEvents(recorded(path).events)


def walk(events: IndexedEvents, kind: str, **options: object) -> list[Cursor | Resume | EndOfRun]:
    """Press one forward key from the first event until the run ends: every move, in order."""
    moves: list[Cursor | Resume | EndOfRun] = []
    cursor = Cursor(0)
    while True:
        move = forward(events, cursor, kind, more_coming=False, **options)  # type: ignore[arg-type]
        moves.append(move)
        if not isinstance(move, Cursor):
            return moves
        cursor = move


def landed(moves: list[Cursor | Resume | EndOfRun]) -> list[int]:
    """The events the moves stopped on (not the nodes inside a backward, not the end)."""
    return [m.event for m in moves if isinstance(m, Cursor) and m.node is None]


def script_line(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == text)


# ---------------------------------------------------------------- forward keys


def test_e_visits_each_backward_and_zero_grad_as_the_tutorial_tells() -> None:
    events = events_of(ACCUMULATION)
    moves = walk(events, "event")
    stops = [events[i] for i in landed(moves)]
    grads = [(e.kind, flat(e.grads["theta"].after)) for e in stops]  # type: ignore[attr-defined]
    # None -> 2 -> 4 -> 6 -> 8, zero_grad resets to None, then a clean 2, twice.
    assert grads == [("backward", [2.0]), ("backward", [4.0]), ("backward", [6.0]), ("backward", [8.0]),
                     ("zero_grad", None), ("backward", [2.0]), ("zero_grad", None), ("backward", [2.0])]
    assert moves[-1] == EndOfRun(Cursor(len(events) - 1))
    assert moves[-1].message == "this is the end of the run: step back with S, N, E or C"


def test_n_visits_every_statement_of_a_script_without_loops_once() -> None:
    events = events_of(ACCUMULATION)
    statements = [node.lineno for node in ast.parse(ACCUMULATION.read_text()).body]
    lines = [events[0].line] + [events[i].line for i in landed(walk(events, "line"))]
    assert lines == statements
    assert all(isinstance(events[i], LineReached) for i in landed(walk(events, "line")))


def test_s_visits_every_event() -> None:
    events = events_of(ACCUMULATION)
    assert landed(walk(events, "op")) == list(range(1, len(events)))


def test_a_key_past_the_known_events_asks_the_engine_for_its_command() -> None:
    events = events_of(ACCUMULATION)
    first_line = 0
    first_backward = next(i for i, e in enumerate(events) if e.kind == "backward")
    known = IndexedEvents(list(events)[: first_backward])  # the engine has not run the backward yet
    at = Cursor(first_line)
    assert forward(known, at, "event", more_coming=True) == Resume(NextEvent())
    assert forward(known, at, "event", more_coming=False) == EndOfRun(Cursor(first_backward - 1))
    spot = {("accumulation.py", script_line(ACCUMULATION, "optimiser.zero_grad()"))}
    stops = [EventStop("step")]
    assert forward(known, at, "continue", more_coming=True, breakpoints=spot, stops=stops) == Resume(
        Continue(frozenset(spot), (EventStop("step"),)))
    last = Cursor(len(known) - 1)
    assert forward(known, last, "op", more_coming=True) == Resume(StepOp())
    assert forward(known, last, "line", more_coming=True) == Resume(NextLine())


def test_c_runs_to_a_line_breakpoint_then_to_an_event_stop_and_says_which() -> None:
    events = events_of(ACCUMULATION)
    line = script_line(ACCUMULATION, "optimiser.zero_grad()")
    spot = {("accumulation.py", line)}
    stops = [EventStop("zero_grad")]
    at_line = forward(events, Cursor(0), "continue", more_coming=False, breakpoints=spot, stops=stops)
    assert isinstance(at_line, Cursor) and at_line.node is None
    assert (events[at_line.event].kind, events[at_line.event].line) == ("line", line)
    assert stop_notice(stops, events[at_line.event]) is None  # a line breakpoint: no event stop to name
    zeroed = forward(events, at_line, "continue", more_coming=False, breakpoints=spot, stops=stops)
    assert isinstance(zeroed, Cursor)
    assert (events[zeroed.event].kind, events[zeroed.event].line) == ("zero_grad", line)
    assert stop_notice(stops, events[zeroed.event]) == "stopped: a zero_grad"
    # Without breakpoints or stops, c runs to the end.
    assert forward(events, Cursor(0), "continue", more_coming=False) == EndOfRun(Cursor(len(events) - 1))
    assert stop_notice([], events[zeroed.event]) is None


# ---------------------------------------------------------------- inside a backward pass


def _torch_node_order() -> list[str]:
    """mean_chain.py's backward pass run by torch itself, each node's name as it runs."""
    import torch

    x = torch.ones(2, 2, requires_grad=True)
    out = (3 * ((x + 2) ** 2)).mean()
    ran: list[str] = []
    seen: set[int] = set()
    todo = [out.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        node.register_prehook(lambda grads, node=node: ran.append(type(node).__name__))
        todo.extend(next_node for next_node, _ in node.next_functions)
    out.backward()
    return ran


def test_s_steps_into_a_backward_in_torchs_order_and_S_steps_back_out() -> None:
    events = events_of(SCENARIOS / "mean_chain.py")
    entered = forward(events, Cursor(0), "event", more_coming=False)
    assert isinstance(entered, Cursor) and isinstance(events[entered.event], BackwardDone)
    b = entered.event
    pass_ = events[b]
    assert isinstance(pass_, BackwardDone)
    inside = [entered]
    while isinstance(step := forward(events, inside[-1], "op", more_coming=False), Cursor):
        inside.append(step)
        if step.node is None:
            break
    assert inside == [Cursor(b)] + [Cursor(b, k) for k in range(5)] + [Cursor(b + 1)]
    assert [pass_.nodes[c.node].name for c in inside if c.node is not None] == _torch_node_order()
    # S walks back through the nodes, onto the pass itself, then to the event before it.
    out = [Cursor(b, 4)]
    for _ in range(6):
        out.append(back(events, out[-1], "op"))  # type: ignore[arg-type]
    assert out == [Cursor(b, k) for k in (4, 3, 2, 1, 0)] + [Cursor(b), Cursor(b - 1)]


def test_keys_other_than_s_step_over_a_backward() -> None:
    events = events_of(SCENARIOS / "mean_chain.py")
    b = next(i for i, e in enumerate(events) if isinstance(e, BackwardDone))
    middle = Cursor(b, 2)
    after_line = forward(events, middle, "line", more_coming=False)
    assert isinstance(after_line, Cursor) and after_line.node is None and after_line.event > b
    assert isinstance(events[after_line.event], LineReached)
    assert all(not isinstance(e, LineReached) for e in list(events)[b + 1: after_line.event])
    assert forward(events, middle, "event", more_coming=False) == EndOfRun(Cursor(len(events) - 1))
    # Back keys other than S leave the pass too.
    assert back(events, middle, "event") == NoEarlier(Cursor(b), "backward, zero_grad, step or update")
    assert back(events, middle, "start") == Cursor(0)
    before = back(events, middle, "line")
    assert isinstance(before, Cursor) and before.node is None and isinstance(events[before.event], LineReached)
    assert before.event < b


# ---------------------------------------------------------------- back keys


def test_back_keys_stop_at_every_earlier_stop_then_say_there_is_none() -> None:
    events = events_of(ACCUMULATION)
    end = Cursor(len(events) - 1)
    stops_of = {"op": lambda e: True, "line": lambda e: e.kind == "line", "event": lambda e: e.kind in MILESTONES}
    words = {"op": "event", "line": "line", "event": "backward, zero_grad, step or update"}
    for kind, stops in stops_of.items():
        behind, cursor = [], end
        while isinstance(move := back(events, cursor, kind), Cursor):
            behind.append(move.event)
            cursor = move
        assert behind == [i for i in range(end.event - 1, -1, -1) if stops(events[i])], kind
        assert move == NoEarlier(cursor, words[kind])
        assert move.message == f"no earlier {words[kind]}: this is as far back as the run goes"
    assert back(events, end, "start") == Cursor(0)


def test_unknown_keys_are_refused() -> None:
    events = events_of(ACCUMULATION)
    with pytest.raises(ValueError, match="forward move 'start'"):
        forward(events, Cursor(0), "start", more_coming=False)
    with pytest.raises(ValueError, match="backward move 'continue'"):
        back(events, Cursor(0), "continue")


# ---------------------------------------------------------------- the engine and the walk agree


def _script(path: Path | str, tmp_path: Path) -> Path:
    if path == "updates":
        target = tmp_path / "updates.py"
        target.write_text(textwrap.dedent(UPDATES))
        return target
    return Path(path)


def engine_pauses(path: Path, command: Command) -> tuple[list[int], list[Event]]:
    """Run ``path`` paused, sending ``command`` after each pause: the seq of every pause after the first."""
    from gradtui.engine.script import load_script
    from gradtui.engine.session import Session

    session = Session(load_script(str(path)), start_paused=True)
    session.start()
    pauses: list[int] = []
    try:
        assert session.wait(WAIT)
        assert session.paused_at is not None and session.paused_at.seq == 0
        while True:
            session.send(command)
            assert session.wait(WAIT), f"{command} did not pause or end"
            paused = session.paused_at
            if paused is None:
                break
            pauses.append(paused.seq)
    finally:
        session.stop()
        assert session.join(WAIT)
    assert session.timeline.status == "finished"
    return pauses, session.timeline.events


KEYS = [
    ("op", {}),
    ("line", {}),
    ("event", {}),
    ("continue", {}),
    ("continue", {"breakpoints": {("sgd_loop.py", 15), ("accumulation.py", 41), ("updates.py", 7)}}),
    ("continue", {"stops": [EventStop("backward")]}),
    ("continue", {"stops": [EventStop("step"), EventStop("update")]}),
    ("continue", {"stops": [EventStop("note")]}),
    ("continue", {"stops": [EventStop("nan")], "breakpoints": {("notes_nan.py", 5)}}),
]


@pytest.mark.parametrize("script", [ACCUMULATION, SCENARIOS / "sgd_loop.py", SCRIPTS / "notes_nan.py", "updates"])
@pytest.mark.parametrize(("kind", "options"), KEYS)
def test_the_engine_pauses_where_the_apps_walk_stops(script: Path | str, kind: str, options: dict[str, object],
                                                     tmp_path: Path) -> None:
    path = _script(script, tmp_path)
    command = command_for(kind, **options)  # type: ignore[arg-type]
    pauses, events = engine_pauses(path, command)
    assert landed(walk(IndexedEvents(events), kind, **options)) == pauses
    # The walk over a plain list (no index to skip by kind) stops at the same events.
    plain = [m.event for m in walk(events, kind, **options) if isinstance(m, Cursor) and m.node is None]  # type: ignore[arg-type]
    assert plain == pauses
    # And both are what the command means, read off the events' kinds directly.
    expected = {
        "op": lambda e: True,
        "line": lambda e: e.kind == "line",
        "event": lambda e: e.kind in MILESTONES,
    }.get(kind)
    if expected is not None:
        assert pauses == [e.seq for e in events[1:] if expected(e)]
    kinds = stopping_kinds(command)
    assert all(kinds is None or e.kind in kinds for e in events if wants_pause(command, e))


def test_the_stops_are_found_where_the_events_say() -> None:
    """The agreement above would hold for a rule that stops nowhere: these runs have stops."""
    pauses, events = engine_pauses(SCRIPTS / "notes_nan.py", Continue(stops=(EventStop("nan"),)))
    assert [events[i].kind for i in pauses] == ["backward"] and "nan" in stop_notice(  # type: ignore[operator]
        [EventStop("nan")], events[pauses[0]])
    pauses, events = engine_pauses(SCENARIOS / "sgd_loop.py", Continue(stops=(EventStop("step"),)))
    assert [events[i].kind for i in pauses] == ["step"] * 10
    assert stopping_kinds(Continue()) == frozenset()  # the gate runs such a command without looking
