"""``--keep-steps N``: the last N steps and the steps around a stop keep their detail, every step its summary.

The script is the plain gradient descent of ``test_recording_crash`` (``w *= 0.98`` each
step, so the loss of step k from 1 is ``5 * 0.98 ** (2 * (k - 1))``), run for 40 steps,
with a backward of NaN through a throwaway tensor at step 15, which the engine notes:
steps 14 to 16 (0-based 13 to 15) are kept around it, and the last 5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.model import navigation
from gradtui.model.events import BackwardDone, DetailDropped, StepTaken
from gradtui.model.json_values import TimelineFormatError
from gradtui.model.navigation import Cursor
from gradtui.model.store.export import export_json
from gradtui.model.store.reader import Recording, step_rows
from tests.test_cli import gradtui

STEPS = 40
SCRIPT = f"""\
import torch

w = torch.tensor([1.0, -2.0], requires_grad=True)
opt = torch.optim.SGD([w], lr=0.01)
for step in range({STEPS}):
    opt.zero_grad()
    if step == 14:
        x = torch.tensor([1.0], requires_grad=True)
        (x * float("nan")).sum().backward()
    loss = (w * w).sum()
    loss.backward()
    opt.step()
"""


def expected_loss(k: int) -> float:
    return 5 * 0.98 ** (2 * (k - 1))


def _record(tmp_path: Path, keep: int | None) -> Path:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"run-{keep}.db"
    session = Session(load_script(str(script)), record=out, keep_steps=keep)
    session.start()
    assert session.join(60)
    session.close_recording()
    return out


def test_old_steps_keep_only_their_summaries(tmp_path: Path) -> None:
    full = _record(tmp_path, None)
    kept = _record(tmp_path, 5)
    assert kept.stat().st_size < full.stat().st_size
    rec = Recording(kept)
    tl = rec.timeline()
    events = tl.events
    steps_with_detail = sorted({e.seq for e in events if isinstance(e, StepTaken)})
    rows = step_rows(rec)
    # Every step has its summary, with the loss torch computed, kept or not.
    assert [r["step"] for r in rows] == list(range(STEPS))
    for r in rows:
        assert r["loss"] == pytest.approx(expected_loss(r["step"] + 1), rel=1e-5)
    kept_steps = {r["step"] for r in rows if r["kept"]}
    assert kept_steps == {13, 14, 15} | set(range(STEPS - 5, STEPS))
    assert len(steps_with_detail) == len(kept_steps)
    # The loss curve is whole: one point per backward, detail or not.
    losses = [(n, y) for n, y in events.loss_points(len(events) - 1) if y == y]  # type: ignore[attr-defined]
    assert len(losses) == STEPS and [n for n, _ in losses] == sorted({n for n, _ in losses})
    assert [y for _, y in losses] == pytest.approx([expected_loss(k) for k in range(1, STEPS + 1)], rel=1e-5)
    # A dropped stretch reads as one event wherever it is asked for, and a key steps over it whole.
    holes = [e for e in events if isinstance(e, DetailDropped)]
    assert [(h.first_step, h.last_step) for h in holes] == [(0, 12), (16, STEPS - 6)]
    hole = holes[0]
    middle = events[(hole.first + hole.last) // 2]
    assert isinstance(middle, DetailDropped) and (middle.first, middle.last) == (hole.first, hole.last)
    after = navigation.forward(events, Cursor(hole.first), "op", more_coming=False)
    assert after == Cursor(hole.last + 1)
    assert navigation.back(events, Cursor(hole.last + 1), "op") == Cursor(hole.first)
    kept_backwards = [e for e in events if isinstance(e, BackwardDone) and e.root == "loss"]
    assert [e.loss for e in kept_backwards] == pytest.approx(
        [expected_loss(s + 1) for s in sorted(kept_steps)], rel=1e-5)
    with pytest.raises(TimelineFormatError, match="keep-steps"):
        export_json(rec, tmp_path / "out.json")


def test_keep_steps_with_json_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    r = gradtui("--keep-steps", "5", "--record", tmp_path / "out.json", script)
    assert r.returncode == 2 and r.stderr.startswith("gradtui: --keep-steps needs a recording database"), r.stderr
    r = gradtui("--keep-steps", "0", "--record", tmp_path / "out.db", script)
    assert r.returncode == 2 and "must be 1 or more" in r.stderr
