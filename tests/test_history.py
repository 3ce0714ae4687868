"""The debugger's questions about a timeline at a cursor (``gradtui.model.history``).

The timeline is built by hand to reproduce the accumulation tutorial (scenarios/
accumulation.py): theta = 1, loss = theta * theta, so each backward() adds 2 to
theta.grad: None → 2 → 4 → 6 → 8; zero_grad() resets it to None; the next backward()
gives 2 again; an SGD step with lr=0.2 then moves theta from 1 to 1 - 0.2 * 2 = 0.6.
The expected numbers and sentences come from the tutorial, not from the code.
"""

from __future__ import annotations

import pytest

from gradtui.model.events import (
    BackwardDone,
    Change,
    ErrorRaised,
    Event,
    GradsZeroed,
    LineReached,
    OpCalled,
    OutputWritten,
    Owner,
    StepTaken,
    ValueWatched,
)
from gradtui.model.history import (
    GradEntry,
    backward_number,
    focus_graph_event,
    format_grad_history,
    grad_history,
    latest,
    loss_points,
    position,
    watch_points,
)
from gradtui.model.navigation import Continue, NextEvent, NextLine, next_stop, prev_stop, wants_pause
from gradtui.model.sentences import describe
from gradtui.model.tensors import TensorSummary

FILE = "accumulation.py"
OPT = Owner("optimiser", "SGD")
SGD_GROUP = {"lr": 0.2, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False}


def ts(value: float) -> TensorSummary:
    """A one-element float32 tensor, like ``torch.Tensor([1])``."""
    return TensorSummary(shape=(1,), dtype="float32", values=[value])


def backward(seq: int, line: int, before: float | None, after: float, loss: float | None = 1.0) -> BackwardDone:
    grads = {"theta": Change(None if before is None else ts(before), ts(after))}
    return BackwardDone(seq=seq, file=FILE, line=line, root="loss", loss=loss, grads=grads, loss_scale=None, graph=None)


def tutorial() -> list[Event]:
    """The accumulation tutorial as a timeline; ``events[i].seq == i``."""
    return [
        LineReached(seq=0, file=FILE, line=12, function="<module>"),
        OpCalled(seq=1, file=FILE, line=12, op="mul", grad_fn="MulBackward0", args=("theta", "theta"), output=ts(1.0),
                 grad_enabled=True, graph=None),
        LineReached(seq=2, file=FILE, line=14, function="<module>"),
        backward(3, 14, None, 2.0),
        OutputWritten(seq=4, file=FILE, line=15, text="tensor([2.])\n", stream="stdout"),
        backward(5, 27, 2.0, 4.0),
        backward(6, 31, 4.0, 6.0),
        backward(7, 35, 6.0, 8.0),
        GradsZeroed(seq=8, file=FILE, line=40, optimizer=OPT, grads={"theta": Change(ts(8.0), None)}),
        LineReached(seq=9, file=FILE, line=42, function="<module>"),
        backward(10, 42, None, 2.0),
        StepTaken(seq=11, file=FILE, line=43, optimizer=OPT, hyperparams=(SGD_GROUP,),
                  params={"theta": Change(ts(1.0), ts(0.6))}, state={}),
        ValueWatched(seq=12, file=FILE, line=44, name="theta", value=0.6),
        ErrorRaised(seq=13, file=FILE, line=45, type="TypeError", message="unsupported operand", traceback=""),
    ]


def joined(pieces: list[tuple[str, bool]]) -> str:
    return " ".join(text for text, _ in pieces)


def current(pieces: list[tuple[str, bool]]) -> list[str]:
    return [text for text, is_current in pieces if is_current]


# ---------------------------------------------------------------- grad history


def test_grad_history_follows_the_accumulation_tutorial() -> None:
    history = grad_history(tutorial(), 13)
    assert list(history) == ["theta"]
    entries = history["theta"]
    assert [e.seq for e in entries] == [3, 3, 5, 6, 7, 8, 10]
    assert [e.value.scalar() if e.value else None for e in entries] == [None, 2.0, 4.0, 6.0, 8.0, None, 2.0]
    assert [e.reset for e in entries] == [False, False, False, False, False, True, False]
    assert entries[1] == GradEntry(3, ts(2.0))


def test_grad_history_stops_at_the_cursor() -> None:
    events = tutorial()
    assert grad_history(events, 2) == {}
    assert [e.value.scalar() if e.value else None for e in grad_history(events, 6)["theta"]] == [None, 2.0, 4.0, 6.0]


def test_grad_history_records_a_change_made_behind_our_back() -> None:
    # x.grad.zero_() between two backward() calls: the second starts from 0, not from 4.
    events: list[Event] = [backward(0, 1, None, 2.0), backward(1, 2, 2.0, 4.0), backward(2, 4, 0.0, 2.0)]
    entries = grad_history(events, 2)["theta"]
    assert [(e.seq, e.value.scalar() if e.value else None) for e in entries] == [
        (0, None), (0, 2.0), (1, 4.0), (2, 0.0), (2, 2.0)
    ]
    assert joined(format_grad_history(entries, 2)) == "None → 2 → 4 → 0 → 2"


def test_grad_history_keeps_leaves_in_order_of_first_appearance() -> None:
    events: list[Event] = [
        BackwardDone(seq=0, file=FILE, line=1, root="loss", loss=1.0, grads={"w": Change(None, ts(3.0))},
                     loss_scale=None, graph=None),
        BackwardDone(seq=1, file=FILE, line=2, root="loss", loss=1.0,
                     grads={"b": Change(None, ts(1.0)), "w": Change(ts(3.0), ts(6.0))}, loss_scale=None, graph=None),
    ]
    history = grad_history(events, 1)
    assert list(history) == ["w", "b"]
    assert [e.seq for e in history["b"]] == [1, 1]


def test_format_grad_history_reads_like_the_tutorial() -> None:
    entries = grad_history(tutorial(), 13)["theta"]
    pieces = format_grad_history(entries, 13)
    assert joined(pieces) == "None → 2 → 4 → 6 → 8 ⟲ zero_grad → None → 2"
    assert pieces[-1] == ("2", True)
    assert current(pieces) == ["2"]
    assert ("⟲ zero_grad", False) in pieces and ("→", False) in pieces


def test_format_grad_history_marks_the_value_current_at_the_cursor() -> None:
    entries = grad_history(tutorial(), 13)["theta"]
    at_six = format_grad_history(entries, 6)
    assert [i for i, (_, is_current) in enumerate(at_six) if is_current] == [6]
    assert at_six[6] == ("6", True)
    at_zero_grad = format_grad_history(entries, 9)
    assert current(at_zero_grad) == ["None"]
    assert at_zero_grad[at_zero_grad.index(("⟲ zero_grad", False)) + 2] == ("None", True)
    assert current(format_grad_history(entries, 2)) == []


def test_format_grad_history_drops_the_oldest_beyond_the_limit() -> None:
    entries = grad_history(tutorial(), 13)["theta"]
    assert joined(format_grad_history(entries, 13, limit=3)) == "… → 8 ⟲ zero_grad → None → 2"
    assert joined(format_grad_history(entries, 13, limit=2)) == "… ⟲ zero_grad → None → 2"
    assert joined(format_grad_history(entries, 13, limit=7)) == "None → 2 → 4 → 6 → 8 ⟲ zero_grad → None → 2"
    # The current value was dropped: nothing is marked.
    assert current(format_grad_history(entries, 5, limit=3)) == []
    assert format_grad_history([], 13) == []


# ---------------------------------------------------------------- where we are


def test_latest_and_focus_graph_event() -> None:
    events = tutorial()
    assert latest(events, 13, (GradsZeroed, StepTaken)) is events[11]
    assert latest(events, 10, (GradsZeroed, StepTaken)) is events[8]
    assert latest(events, 7, (GradsZeroed, StepTaken)) is None
    assert latest([], 3, (BackwardDone,)) is None
    assert focus_graph_event(events, 0) is None
    assert focus_graph_event(events, 2) is events[1]
    assert focus_graph_event(events, 3) is events[3]
    assert focus_graph_event(events, 9) is events[7]


def test_backward_number_counts_backwards_up_to_the_cursor() -> None:
    events = tutorial()
    assert [backward_number(events, i) for i in (0, 2, 3, 5, 7, 9, 10, 13)] == [0, 0, 1, 2, 4, 4, 5, 5]
    assert backward_number([], 5) == 0


def test_position() -> None:
    events = tutorial()
    assert position(events, 6, finished=True) == "event 7 / 14 · line 31 · backward #3"
    assert position(events, 5, finished=False) == "event 6 / 14+ · line 27 · backward #2"
    assert position(events, 0, finished=True) == "event 1 / 14 · line 12"
    assert position([], 0, finished=False) == "no events yet"


# ---------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("upto", "sentence"),
    [
        (0, "line 12 in <module>"),
        (1, "mul(theta, theta) → MulBackward0"),
        (3, "backward() from loss (loss=1): theta.grad None → 2 (the first gradient)"),
        (4, "printed: tensor([2.])"),
        (5, "backward() from loss (loss=1): theta.grad 2 → 4 (added to the old value; nothing reset it)"),
        (8, "optimiser.zero_grad(): 1 grad reset to None"),
        (10, "backward() from loss (loss=1): theta.grad None → 2 (the first gradient)"),
        (11, "optimiser.step() (SGD, lr=0.2): theta 1 → 0.6"),
        (12, "theta = 0.6"),
        (13, "TypeError: unsupported operand"),
    ],
)
def test_describe_the_tutorial(upto: int, sentence: str) -> None:
    assert describe(tutorial(), upto) == sentence


def test_describe_backward_variants() -> None:
    no_loss = BackwardDone(seq=0, file=FILE, line=1, root="", loss=None, grads={"theta": Change(ts(2.0), ts(4.0))},
                           loss_scale=None, graph=None)
    assert describe([no_loss], 0) == "backward(): theta.grad 2 → 4 (added to the old value; nothing reset it)"
    several = BackwardDone(seq=0, file=FILE, line=1, root="loss", loss=0.5, grads={
        "w": Change(None, ts(1.0)), "b": Change(None, ts(2.0)), "c": Change(None, ts(3.0))},
        loss_scale=None, graph=None)
    assert describe([several], 0) == "backward() from loss (loss=0.5): w.grad None → 1 (the first gradient), and 2 more"
    after_zeroing = backward(0, 1, 0.0, 2.0)
    assert describe([after_zeroing], 0) == (
        "backward() from loss (loss=1): theta.grad 0 → 2 (added to the old value, which was zero)"
    )


def test_describe_zero_grad_and_step_variants() -> None:
    to_zero = GradsZeroed(seq=0, file=FILE, line=1, optimizer=Owner("opt", "SGD"),
                          grads={"w": Change(ts(3.0), ts(0.0)), "b": Change(ts(1.0), ts(0.0))})
    assert describe([to_zero], 0) == "opt.zero_grad(): 2 grads set to zero"
    to_none = GradsZeroed(seq=0, file=FILE, line=1, optimizer=Owner("opt", "SGD"),
                          grads={"w": Change(ts(3.0), None), "b": Change(ts(1.0), None)})
    assert describe([to_none], 0) == "opt.zero_grad(): 2 grads reset to None"
    momentum = StepTaken(seq=0, file=FILE, line=1, optimizer=Owner("opt", "SGD"),
                         hyperparams=({"lr": 0.1, "momentum": 0.9},),
                         params={"w": Change(ts(1.0), ts(0.8)), "b": Change(ts(0.0), ts(0.1))}, state={})
    assert describe([momentum], 0) == "opt.step() (SGD, lr=0.1, momentum=0.9): w 1 → 0.8, and 1 more"


def test_describe_ops_without_a_graph() -> None:
    no_grad = OpCalled(seq=0, file=FILE, line=1, op="mul", grad_fn=None, grad_enabled=False, args=("theta", "2"),
                       output=None, graph=None)
    assert describe([no_grad], 0) == "mul(theta, 2) → no grad_fn (grad mode off: no graph recorded)"
    detached = OpCalled(seq=0, file=FILE, line=1, op="detach", grad_fn=None, args=("x",), grad_enabled=True,
                        output=None, graph=None)
    assert describe([detached], 0) == "detach(x) → no grad_fn (not part of the graph)"


def test_describe_output_is_stripped_and_cut() -> None:
    long = OutputWritten(seq=0, file=FILE, line=1, text="  " + "a" * 70 + "\n", stream="stdout")
    assert describe([long], 0) == "printed: " + "a" * 60 + "…"
    assert describe([], 0) == ""


# ---------------------------------------------------------------- series


def test_loss_points_number_backwards_from_one() -> None:
    events = tutorial()
    assert loss_points(events, 13) == [(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (5, 1.0)]
    assert loss_points(events, 5) == [(1, 1.0), (2, 1.0)]
    mixed: list[Event] = [backward(0, 1, None, 2.0, loss=None), backward(1, 2, 2.0, 4.0, loss=float("inf"))]
    assert loss_points(mixed, 1) == [(2, float("inf"))]


def test_watch_points() -> None:
    events: list[Event] = [
        ValueWatched(seq=0, file=FILE, line=3, name="theta", value=1.0),
        ValueWatched(seq=1, file=FILE, line=3, name="lr", value=0.2),
        LineReached(seq=2, file=FILE, line=4, function="<module>"),
        ValueWatched(seq=3, file=FILE, line=3, name="theta", value=None),
        ValueWatched(seq=4, file=FILE, line=3, name="theta", value=0.6),
    ]
    assert watch_points(events, 4, "theta") == [(0, 1.0), (4, 0.6)]
    assert watch_points(events, 3, "theta") == [(0, 1.0)]
    assert watch_points(events, 4, "missing") == []


# ---------------------------------------------------------------- navigation


def test_next_and_prev_search_strictly_past_start() -> None:
    events = tutorial()
    line, event = NextLine(), NextEvent()
    assert next_stop(events, 0, line) == 2
    assert next_stop(events, -1, line) == 0
    assert next_stop(events, 9, line) is None
    assert prev_stop(events, 9, line) == 2
    assert prev_stop(events, 0, line) is None
    assert next_stop(events, 3, event) == 5
    assert prev_stop(events, 13, event) == 11
    assert [i for i, e in enumerate(events) if wants_pause(event, e)] == [3, 5, 6, 7, 8, 10, 11]


def test_a_breakpoint_matches_file_and_line() -> None:
    events = tutorial()
    stop = Continue(frozenset({(FILE, 42), ("other.py", 12)}))
    assert next_stop(events, 0, stop) == 9
    assert prev_stop(events, 13, stop) == 9
    assert not wants_pause(stop, events[10])  # the backward on line 42 is not a line event
    assert next_stop(events, 9, stop) is None


def test_describe_a_large_gradient_reset_to_zeros_kept_as_statistics() -> None:
    # 100 elements, over --max-values: only statistics are kept. min == max == 0 is zero.
    from gradtui.model.tensors import TensorStats

    def large(lo: float, hi: float, nan: int = 0) -> TensorSummary:
        stats = TensorStats(numel=100, min=lo, max=hi, mean=0.0, std=0.0, norm=0.0, nan=nan)
        return TensorSummary((10, 10), "float32", stats=stats)

    def sentence(before: TensorSummary | None) -> str:
        change = Change(before, large(-1.0, 1.0))
        return describe([BackwardDone(seq=0, file=FILE, line=1, root="loss", loss=1.0, grads={"w": change},
                                      loss_scale=None, graph=None)], 0)

    assert sentence(large(0.0, 0.0)).endswith("(added to the old value, which was zero)")
    assert sentence(large(0.0, 0.0, nan=3)).endswith("(added to the old value; nothing reset it)")
    assert sentence(large(-0.5, 0.5)).endswith("(added to the old value; nothing reset it)")
    shape_only = TensorSummary((10, 10), "float32")  # neither values nor statistics: no claim either way
    assert sentence(shape_only).endswith("(added to the old value)")
