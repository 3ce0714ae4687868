"""Folding line events' variable deltas back into the variables at any event, and saving them.

The deltas here are written by hand as the engine would write them for a small script
(a module frame calling ``f`` twice), so the fold is checked against what the script's
variables plainly were at each line, and the round trips against the events themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gradtui.model import codec
from gradtui.model.event_json import event_from_json, event_to_json
from gradtui.model.events import Event, LineReached, OpCalled
from gradtui.model.json_values import TimelineFormatError
from gradtui.model.scopes import fold, frame_vars, history, stack_at
from gradtui.model.store.export import write_timeline
from gradtui.model.store.reader import Recording
from gradtui.model.tensors import TensorSummary
from gradtui.model.timeline import Timeline
from gradtui.model.variables import KEYFRAME_EVERY, FrameRef, ScopeDelta, TensorFacts, Var


def number(v: int) -> Var:
    return Var("number", "int", repr(v))


def tensor(*values: float, grad: tuple[float, ...] | None = None, leaf: bool = True) -> Var:
    summary = TensorSummary((len(values),), "float32", True, None if leaf else "AddBackward0", list(values))
    g = None if grad is None else TensorSummary((len(grad),), "float32", False, None, list(grad))
    return Var("tensor", "Tensor", tensor=TensorFacts(summary, "cpu", leaf, 0, g, None if leaf else 3))


def line(seq: int, n: int, scope: ScopeDelta, function: str = "<module>") -> LineReached:
    return LineReached(seq=seq, file="s.py", line=n, function=function, scope=scope)


# x = torch.ones(2, requires_grad=True)   line 1 (module frame 1)
# def f(a): b = a * 2; return b           lines 2-4, frame 2 then 3
# y = f(x); y = f(y); del x
EVENTS: list[Event] = [
    line(0, 1, ScopeDelta(1, None, {}, full=True)),
    OpCalled(seq=1, file="s.py", line=1, op="ones", grad_fn=None, grad_enabled=True, args=(), output=None,
             graph=None),
    line(2, 5, ScopeDelta(1, 0, {"x": tensor(1, 1)})),
    line(3, 3, ScopeDelta(2, None, {"a": tensor(1, 1)}, full=True,
                          callers=(FrameRef(1, "<module>", "s.py", 5),)), function="f"),
    line(4, 4, ScopeDelta(2, 3, {"b": tensor(2, 2, leaf=False)}), function="f"),
    line(5, 6, ScopeDelta(1, 2, {"y": tensor(2, 2, leaf=False)})),
    line(6, 3, ScopeDelta(3, None, {"a": tensor(2, 2, leaf=False)}, full=True,
                          callers=(FrameRef(1, "<module>", "s.py", 6),)), function="f"),
    line(7, 4, ScopeDelta(3, 6, {}), function="f"),
    line(8, 7, ScopeDelta(1, 5, {"y": tensor(4, 4, leaf=False)})),
    line(9, 8, ScopeDelta(1, 8, {"x": tensor(1, 1, grad=(4.0, 4.0))})),
    line(10, 9, ScopeDelta(1, 9, {}, gone=("x",))),
]


def test_the_innermost_frame_and_its_callers() -> None:
    assert stack_at(EVENTS, 4) == (FrameRef(2, "f", "s.py", 4), FrameRef(1, "<module>", "s.py", 5))
    assert stack_at(EVENTS, 1) == (FrameRef(1, "<module>", "s.py", 1),)  # an op: the line it is on
    assert stack_at(EVENTS, 8) == (FrameRef(1, "<module>", "s.py", 7),)


def test_variables_at_each_event_are_those_the_script_had() -> None:
    inner = frame_vars(EVENTS, 4)
    assert inner is not None and list(inner.variables) == ["a", "b"] and inner.complete
    caller = frame_vars(EVENTS, 4, depth=1)
    assert caller is not None and list(caller.variables) == ["x"]  # y is not bound until f returns
    after = frame_vars(EVENTS, 9)
    assert after is not None and list(after.variables) == ["x", "y"]
    assert after.variables["y"] == tensor(4, 4, leaf=False)
    x = after.variables["x"].tensor
    assert x is not None and x.grad is not None and x.grad.values == [4.0, 4.0]
    gone = frame_vars(EVENTS, 10)
    assert gone is not None and list(gone.variables) == ["y"]
    assert frame_vars(EVENTS, 4, depth=2) is None


def test_a_frame_of_the_second_call_starts_afresh() -> None:
    second = frame_vars(EVENTS, 7)
    assert second is not None and second.ref.frame == 3 and list(second.variables) == ["a"]


def test_history_lists_each_change_once() -> None:
    ys = history(EVENTS, 10, 1, "y")
    assert [(e.seq, e.line) for e in ys] == [(5, 6), (8, 7)]
    xs = history(EVENTS, 10, 1, "x")
    assert [e.seq for e in xs] == [2, 9, 10] and xs[-1].value is None


def test_a_fold_reads_at_most_a_keyframe_back() -> None:
    events: list[Event] = [line(0, 1, ScopeDelta(1, None, {"i": number(0)}, full=True))]
    for i in range(1, 3 * KEYFRAME_EVERY):
        full = i % KEYFRAME_EVERY == 0
        changed = {"i": number(i)} if not full else {"i": number(i), "k": number(7)}
        events.append(line(i, 1, ScopeDelta(1, i - 1, changed, full=full)))
    variables, complete = fold(events, len(events) - 1, 1)
    assert complete and variables == {"i": number(3 * KEYFRAME_EVERY - 1), "k": number(7)}
    assert [e.value for e in history(events, len(events) - 1, 1, "i")][:3] == [number(0), number(1), number(2)]


def test_a_run_without_variables_has_no_stack() -> None:
    plain: list[Event] = [LineReached(seq=0, file="s.py", line=1, function="<module>")]
    assert stack_at(plain, 0) == () and frame_vars(plain, 0) is None


def test_module_and_optimizer_trees_round_trip(tmp_path: Path) -> None:
    net = Var("module", "Linear", "train, 2 parameter tensors",
              members=(("weight", tensor(0.5, grad=(0.25,))), ("bias", tensor(0.0))))
    opt = Var("optimizer", "SGD", "1 group, state for 0",
              members=(("param_groups[0]", Var("container", "dict", "2 parameter tensors",
                                               members=(("lr", Var("number", "float", "0.1")),))),))
    many = Var("container", "list", "100 items", members=(("[0]", number(0)),), length=100)
    events: list[Event] = [*EVENTS, line(11, 10, ScopeDelta(1, 10, {"net": net, "opt": opt, "xs": many}))]
    for e in events:
        assert event_from_json(event_to_json(e), e.seq) == e
    tl = Timeline(script="s.py", argv=["s.py"], max_values=64, events=list(events), status="finished", exit_code=0)
    write_timeline(tl, tmp_path / "run.db")
    assert list(Recording(tmp_path / "run.db").timeline().events) == events
    codec.save(tl, tmp_path / "run.json")
    assert codec.load(tmp_path / "run.json").events == events


def test_a_damaged_scope_is_refused_in_one_sentence() -> None:
    d = event_to_json(EVENTS[2])
    d["scope"]["set"]["x"]["role"] = "spaceship"
    with pytest.raises(TimelineFormatError, match="unknown variable role 'spaceship'"):
        event_from_json(d, 2)


def test_a_backward_on_the_current_line_shows_in_its_variables() -> None:
    """The cursor on ``out.backward()``: the line's start recorded x.grad None, the backward wrote 4.5."""
    from gradtui.model.events import BackwardDone, Change

    written = TensorSummary((2,), "float32", False, None, [4.5, 4.5])
    net = Var("module", "Linear", "train", members=(("weight", tensor(1, 1)),))
    events: list[Event] = [
        line(0, 1, ScopeDelta(1, None, {"x": tensor(1, 1), "net": net}, full=True)),
        BackwardDone(seq=1, file="s.py", line=1, root="out", loss=27.0, loss_scale=None, graph=None,
                     grads={"x": Change(None, written), "net.weight": Change(None, written)}),
    ]
    before = frame_vars(events, 0)
    assert before is not None and before.variables["x"].tensor.grad is None  # type: ignore[union-attr]
    after = frame_vars(events, 1)
    assert after is not None
    assert after.variables["x"].tensor.grad == written  # type: ignore[union-attr]
    weight = after.variables["net"].member("weight")
    assert weight is not None and weight.tensor is not None and weight.tensor.grad == written
