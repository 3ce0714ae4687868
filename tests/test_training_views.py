"""What the panels make of real training code's events, built by hand from literals.

A clip of a gradient from 0.5 to 0.25, a StepLR halving lr 0.1 → 0.05 → 0.025, a
GradScaler step skipped after inf, a GAN's two optimizers, ``net.eval()`` inside
``no_grad``: the expected text is read off those numbers, not off earlier output. The
engine's recording of the same events is tested against torch in the engine's tests.
"""

from __future__ import annotations

import pytest

from gradtui.model import history, training
from gradtui.model.events import (
    BackwardDone,
    Change,
    Event,
    GradComputed,
    GradHooked,
    GradsClipped,
    LineReached,
    LrScheduled,
    ModeSet,
    NodeRun,
    Owner,
    StepTaken,
)
from gradtui.model.index import IndexedEvents
from gradtui.model.navigation import Cursor, forward
from gradtui.model.tensors import TensorSummary
from gradtui.ui.view import View
from gradtui.ui.widgets.grads import render_grads
from gradtui.ui.widgets.optimizer import render_optimizer
from gradtui.ui.widgets.status import render_status
from tests.apptools import _plain


def t(x: float) -> TensorSummary:
    return TensorSummary(shape=(), dtype="float32", requires_grad=False, grad_fn=None, values=x, stats=None)


B = dict(file="train.py")
OPT_G, OPT_D = Owner("opt_g", "Adam"), Owner("opt_d", "SGD")
SCHED = Owner("sched", "StepLR")


def run() -> list[Event]:
    ev: list[Event] = []

    def add(kind: type, **fields: object) -> None:
        ev.append(kind(seq=len(ev), line=len(ev) + 1, **B, **fields))

    add(LineReached, function="<module>")
    add(BackwardDone, root="loss", loss=1.0, loss_scale=None, grads={"w": Change(None, t(0.5))}, graph=None)
    add(GradsClipped, function="clip_grad_norm_", max=0.25, norm_type=2.0, total_norm=0.5, coef=0.25 / (0.5 + 1e-6),
        clipped=True, grads={"w": Change(t(0.5), t(0.25))})
    add(StepTaken, optimizer=OPT_D, hyperparams=({"lr": 0.1},), params={"w": Change(t(1.0), t(0.975))}, state={})
    add(LrScheduled, scheduler=SCHED, optimizer=OPT_D, lrs=((0.1, 0.05),))
    add(StepTaken, optimizer=OPT_G, hyperparams=({"lr": 0.001}, {"lr": 0.01}), params={"v": Change(t(2.0), t(2.0))},
        state={}, skipped="GradScaler found inf/NaN in the gradients of opt_g")
    add(LrScheduled, scheduler=SCHED, optimizer=OPT_D, lrs=((0.05, 0.025),))
    add(StepTaken, optimizer=OPT_D, hyperparams=({"lr": 0.025},), params={"w": Change(t(0.975), t(0.95))}, state={})
    add(ModeSet, target="net", cls="Sequential", mode="eval")
    add(ModeSet, target="grad", cls="", mode="no_grad")
    add(ModeSet, target="grad", cls="", mode="grad")
    add(ModeSet, target="net", cls="Sequential", mode="train")
    return ev


@pytest.fixture(params=["list", "index"])
def events(request: pytest.FixtureRequest) -> list[Event] | IndexedEvents:
    ev = run()
    return ev if request.param == "list" else IndexedEvents(ev)


def test_the_gradient_history_shows_the_clip(events) -> None:  # type: ignore[no-untyped-def]
    text = render_grads(View(events=events, cursor=3)).plain
    assert "w.grad  None → 0.5 ✂ 0.25" in text


def test_a_clip_that_changed_nothing_adds_no_value() -> None:
    ev = run()[:2]
    ev.append(GradsClipped(seq=2, line=3, **B, function="clip_grad_norm_", max=1.0, norm_type=2.0, total_norm=0.5,
                           coef=1.0, clipped=False, grads={"w": Change(t(0.5), t(0.5))}))
    assert "None → 0.5\n" in render_grads(View(events=ev, cursor=2)).plain + "\n"


def test_the_optimizer_panel_shows_the_schedule_so_far(events) -> None:  # type: ignore[no-untyped-def]
    text = _plain(render_optimizer(View(events=events, cursor=7)))
    assert "schedule · sched (StepLR): 0.1 → 0.05 → 0.025" in text
    assert "also stepping: opt_g (Adam, lr=0.001,0.01)" in text


def test_a_skipped_step_says_so(events) -> None:  # type: ignore[no-untyped-def]
    text = _plain(render_optimizer(View(events=events, cursor=5)))
    assert "skipped: GradScaler found inf/NaN in the gradients of opt_g" in text
    assert "group 1" in text


def test_the_status_line_shows_the_modes(events) -> None:  # type: ignore[no-untyped-def]
    assert "· net: eval · no_grad" in render_status(View(events=events, cursor=9)).plain
    line = render_status(View(events=events, cursor=10)).plain.splitlines()[0]
    assert "net: eval" in line and "no_grad" not in line
    assert "net: train" in render_status(View(events=events, cursor=11)).plain.splitlines()[0]
    assert training.modes_at(events, 3) == ({}, "grad")


def test_the_lr_series_numbers_each_schedule_step(events) -> None:  # type: ignore[no-untyped-def]
    assert training.lr_series(events, 11, 100).points == ((1.0, 0.05), (2.0, 0.025))
    assert training.lr_series(events, 3, 100).count == 0
    # Only the latest ``most`` are read, still numbered over the whole run.
    assert training.lr_series(events, 11, 1).points == ((2.0, 0.025),)


def grad_call() -> list[Event]:
    ev: list[Event] = [LineReached(seq=0, line=1, **B, function="<module>")]
    ev.append(GradHooked(seq=1, line=2, **B, hook="halve", target="h", where="tensor", before=(t(2.0),),
                         after=(t(1.0),), changed=True, node=7))
    ev.append(GradComputed(seq=2, line=3, **B, outputs=("y",), inputs=("x",), grad_outputs=(), results=(t(3.0),),
                           create_graph=True, retain_graph=True, allow_unused=False, graph=7,
                           nodes=(NodeRun(7, "PowBackward0", (t(1.0),), (t(3.0),)),)))
    return ev


def test_autograd_grad_is_stepped_into_node_by_node_with_its_hooks() -> None:
    ev = grad_call()
    move = forward(ev, Cursor(2), "op", more_coming=False)
    assert move == Cursor(2, 0)
    status = render_status(View(events=ev, cursor=2, node=0)).plain
    assert "inside autograd.grad: node 1 / 1" in status
    assert "hook halve on h changed the gradient: 2 → 1" in status
    assert history.focus_graph_event(ev, 2) is ev[2]
    assert [h.seq for h in training.hooks_of(ev, ev[2])] == [1]  # type: ignore[arg-type]


def test_the_parameters_panel_shows_the_clip_and_a_skipped_step(events) -> None:  # type: ignore[no-untyped-def]
    from gradtui.ui.widgets.params import render_params
    clip = " ".join(_plain(render_params(View(events=events, cursor=2))).split())  # the title wraps
    assert "clip_grad_norm_ total norm 0.5 > max 0.25" in clip and "w.grad" in clip and "-0.25" in clip
    skipped = " ".join(_plain(render_params(View(events=events, cursor=5))).split())
    assert "opt_g.step() · line 6 · skipped: nothing changed" in skipped
