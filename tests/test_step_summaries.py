"""The recording's summary of every optimizer step, against the same training run by torch directly.

The script trains a two-layer net with SGD and momentum, and halves the learning rate
half-way; the test repeats the same training here, seeded the same, and computes each
step's loss, learning rate, gradient norms, parameter norms and update norms itself.
The first layer's weight (4 x 40 = 160 elements) keeps statistics only, its bias its
values: both paths to a norm are checked. With 16,384 hidden units the weights are large
enough (256 KiB) for the step to compare them with copies from the capture's buffer pool.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.model.store.reader import Recording, step_rows

SCRIPT = """\
import torch

torch.manual_seed(3)
net = torch.nn.Sequential(torch.nn.Linear(4, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 1))
opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
x = torch.randn(16, 4)
y = torch.randn(16, 1)
for step in range(STEPS):
    if step == STEPS // 2:
        for group in opt.param_groups:
            group["lr"] = LR / 2
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(net(x), y)
    loss.backward()
    opt.step()
"""
STEPS = 8


def _by_torch(hidden: int, lr: float) -> list[dict[str, object]]:
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    x = torch.randn(16, 4)
    y = torch.randn(16, 1)
    names = [f"net.{n}" for n, _ in net.named_parameters()]
    rows = []
    for step in range(STEPS):
        if step == STEPS // 2:
            for group in opt.param_groups:
                group["lr"] = lr / 2
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        before = [p.detach().clone() for p in net.parameters()]
        grads = [float(p.grad.double().norm()) for p in net.parameters()]
        opt.step()
        rows.append({"loss": float(loss.detach()), "lr": opt.param_groups[0]["lr"],
                     "grad_norms": dict(zip(names, grads)),
                     "param_norms": {n: float(p.detach().double().norm()) for n, p in zip(names, net.parameters())},
                     "update_norms": {n: float((p.detach() - b).double().norm())
                                      for n, p, b in zip(names, net.parameters(), before)}})
    return rows


@pytest.mark.parametrize(("hidden", "lr"), [(40, 0.1), (16384, 1e-4)])
def test_each_step_summary_is_what_torch_computed(tmp_path: Path, hidden: int, lr: float) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.replace("STEPS", str(STEPS)).replace("HIDDEN", str(hidden)).replace("LR", repr(lr)))
    out = tmp_path / "run.db"
    session = Session(load_script(str(script)), record=out)
    session.start()
    assert session.join(60)
    session.close_recording()
    rows = step_rows(Recording(out))
    expected = _by_torch(hidden, lr)
    assert [r["step"] for r in rows] == list(range(STEPS))
    for got, want in zip(rows, expected, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-6)
        assert got["lrs"] == [want["lr"]]
        for key in ("grad_norms", "param_norms", "update_norms"):
            assert set(got[key]) == set(want[key])  # type: ignore[call-overload]
            for name, value in want[key].items():  # type: ignore[attr-defined]
                assert got[key][name] == pytest.approx(value, rel=1e-5, abs=1e-12), (key, name)
        assert got["non_finite"] == []
    assert all(math.isfinite(r["loss"]) for r in rows)  # type: ignore[arg-type]
