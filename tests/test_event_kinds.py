"""The event kinds of real training code (clip, schedule, grad, hook, unscale, scale, mode)
survive both ways a run is kept: the v1 JSON file and the recording database.

Each event is built with every field set to a value that is not its default, written,
read back and compared field by field; a reader that dropped or renamed a field, or a
payload compaction that lost a tensor reference, fails here. The values are literals:
what the engine records for them is tested against torch in the engine's tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gradtui.model import codec
from gradtui.model.event_json import event_from_json, event_to_json
from gradtui.model.events import (
    BackwardDone,
    Change,
    Event,
    GradComputed,
    GradHooked,
    GradsClipped,
    GradsUnscaled,
    LrScheduled,
    ModeSet,
    NodeRun,
    OpCalled,
    Owner,
    ScaleUpdated,
    StepTaken,
)
from gradtui.model.formatting import summary
from gradtui.model.json_values import TimelineFormatError
from gradtui.model.sentences import describe
from gradtui.model.store.export import write_timeline
from gradtui.model.store.reader import Recording
from gradtui.model.tensors import TensorSummary
from gradtui.model.timeline import Timeline


def t(*values: float) -> TensorSummary:
    return TensorSummary(shape=(len(values),), dtype="float32", requires_grad=False, grad_fn=None,
                         values=list(values), stats=None)


OPT = Owner("opt", "AdamW")
SCALER = Owner("scaler", "GradScaler")
BASE = dict(file="train.py", line=7)

EVENTS: list[Event] = [
    OpCalled(seq=0, **BASE, op="linear", grad_fn="AddmmBackward0", grad_enabled=True, args=("x", "net.0.weight"),
             output=t(1.5, -2.0), graph=None, autocast="bfloat16"),
    OpCalled(seq=1, **BASE, op="relu", grad_fn=None, grad_enabled=False, args=("h",), output=t(0.0, 3.0),
             graph=None, inference=True),
    BackwardDone(seq=2, **BASE, root="loss", loss=0.5, loss_scale=None,
                 grads={"w": Change(None, t(0.25, 0.5))}, graph=None, inputs=("w",)),
    GradComputed(seq=3, **BASE, outputs=("loss",), inputs=("w", "b"), grad_outputs=("v",),
                 results=(t(3.0, 12.0), None), create_graph=True, retain_graph=True, allow_unused=True, graph=4,
                 result_graphs=(5, None), nodes=(NodeRun(4, "PowBackward0", (t(1.0),), (t(3.0, 12.0),)),)),
    GradHooked(seq=4, **BASE, hook="halve", target="h", where="tensor", before=(t(2.0, 4.0),),
               after=(t(1.0, 2.0),), changed=True, node=4),
    GradsClipped(seq=5, **BASE, function="clip_grad_norm_", max=0.5, norm_type=2.0, total_norm=1.25,
                 coef=0.5 / (1.25 + 1e-6), clipped=True, grads={"w": Change(t(0.25, 0.5), t(0.125, 0.25))}),
    GradsClipped(seq=6, **BASE, function="clip_grad_value_", max=0.1, norm_type=None, total_norm=None, coef=None,
                 clipped=False, grads={"w": Change(t(0.0625), t(0.0625))}),
    GradsUnscaled(seq=7, **BASE, scaler=SCALER, optimizer=OPT, scale=65536.0, found_inf=True,
                  grads={"w": Change(t(math.inf), t(math.inf))}),
    ScaleUpdated(seq=8, **BASE, scaler=SCALER, before=65536.0, after=32768.0, found_inf=True),
    StepTaken(seq=9, **BASE, optimizer=OPT, hyperparams=({"lr": 0.1}, {"lr": 0.01}),
              params={"w": Change(t(1.0), t(1.0))}, state={}, skipped="GradScaler found inf or NaN in the gradients"),
    LrScheduled(seq=10, **BASE, scheduler=Owner("sched", "OneCycleLR"), optimizer=OPT,
                lrs=((0.1, 0.05), (0.01, 0.005)), changes=({"betas": ((0.85, 0.99), (0.9, 0.99))}, {}),
                constructed=True),
    ModeSet(seq=11, **BASE, target="net", cls="Sequential", mode="eval"),
    ModeSet(seq=12, **BASE, target="grad", cls="", mode="inference"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e.seq}-{e.kind}")
def test_json_round_trip(event: Event) -> None:
    assert event_from_json(event_to_json(event), event.seq) == event


def test_recording_round_trip(tmp_path: Path) -> None:
    tl = Timeline(script="train.py", argv=["train.py"], max_values=64, events=list(EVENTS), status="finished",
                  exit_code=0)
    write_timeline(tl, tmp_path / "run.db")
    back = Recording(tmp_path / "run.db").timeline()
    assert list(back.events) == EVENTS
    # and the v1 file of the same run
    codec.save(tl, tmp_path / "run.json")
    assert codec.load(tmp_path / "run.json").events == EVENTS


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e.seq}-{e.kind}")
def test_every_kind_reads_as_text_and_a_sentence(event: Event) -> None:
    assert summary(event).split()[0] == event.kind
    assert describe(EVENTS, event.seq)


def test_texts_say_what_happened() -> None:
    assert "× 0.4" in summary(EVENTS[5]) and "total norm 1.25 > max 0.5" in summary(EVENTS[5])
    assert "skipped: GradScaler found inf" in summary(EVENTS[9])
    assert "lr=0.1,0.01" in summary(EVENTS[9])
    assert "lr 0.1,0.01 → 0.05,0.005" in summary(EVENTS[10])
    assert "[autocast bfloat16]" in summary(EVENTS[0]) and "[inference_mode]" in summary(EVENTS[1])
    assert "untouched" in describe(EVENTS, 3)
    assert "skipped" in describe(EVENTS, 9)
    assert "32768" in describe(EVENTS, 8)


def test_bad_mode_and_hook_place_are_refused() -> None:
    with pytest.raises(ValueError, match="mode is one of"):
        ModeSet(seq=0, **BASE, target="net", cls="", mode="training")
    d = event_to_json(EVENTS[4])
    d["where"] = "elsewhere"
    with pytest.raises(TimelineFormatError, match="unknown hook place"):
        event_from_json(d, 4)
    d = event_to_json(EVENTS[10])
    d["lrs"] = [[0.1]]
    with pytest.raises(TimelineFormatError, match=r"\[before, after\]"):
        event_from_json(d, 10)
