"""Gradient clipping recorded as ``clip`` events, checked against torch run directly.

The expected values come from the same seeded scripts run in this process with torch's
own clip function wrapped by a spy (which keeps the gradients before and after and the
total norm torch returned), or from torch computing the clip of the recorded gradients;
never from an earlier gradtui run.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from gradtui.engine.clipping import BUSY_SHARE, BUSY_WINDOW
from gradtui.model.events import GradsClipped
from gradtui.model.sentences import describe
from tests.conftest import SCRIPTS
from tests.helpers import flat, of_kind, python_stdout, stdout
from tests.helpers import plain_python as plain
from tests.helpers import tensor_values as values
from tests.recording_tools import gradtui

REAL = SCRIPTS / "real"
MLP = REAL / "mlp_adamw_onecycle.py"
TWO = REAL / "two_optimizers.py"


def write(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


class Spy:
    """Wraps one clip function of torch for a direct run: what each call saw and left."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.calls: list[dict[str, Any]] = []

    def __call__(self, parameters: Any, *args: Any, **kwargs: Any) -> Any:
        params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
        before = [None if p.grad is None else p.grad.clone() for p in params]
        result = self.original(params, *args, **kwargs)
        after = [None if p.grad is None else p.grad.clone() for p in params]
        self.calls.append({"before": before, "after": after, "result": result})
        return result


def direct_run(script: Path, monkeypatch: pytest.MonkeyPatch, function: str) -> tuple[Spy, str]:
    """``script`` run here, plainly, with ``torch.nn.utils.<function>`` spied on; its stdout."""
    spy = Spy(getattr(torch.nn.utils, function))
    monkeypatch.setattr(torch.nn.utils, function, spy)
    printed = python_stdout(script)
    monkeypatch.undo()
    return spy, printed


# ---------------------------------------------------------------------------- the corpus


def test_mlp_clip_events_are_torch_values(run_script, monkeypatch) -> None:
    """``from torch.nn.utils import clip_grad_norm_`` on ``net.parameters()`` (a generator):
    one event per call, total norm, coefficient and every gradient after as torch computed them."""
    spy, printed = direct_run(MLP, monkeypatch, "clip_grad_norm_")
    tl = run_script(MLP)
    assert tl.status == "finished"
    assert stdout(tl) == printed == plain(MLP).stdout
    clips: list[GradsClipped] = of_kind(tl, "clip")
    assert len(clips) == len(spy.calls) == 50
    names = ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
    for event, call in zip(clips, spy.calls):
        assert event.function == "clip_grad_norm_" and event.max == 1.0 and event.norm_type == 2.0
        total = call["result"]
        assert event.total_norm == float(total)
        grads = [g for g in call["before"] if g is not None]
        together = torch.cat([g.reshape(-1) for g in grads])
        assert event.total_norm == pytest.approx(float(torch.linalg.vector_norm(together)), rel=1e-5)
        coef = float(torch.clamp(1.0 / (total + 1e-6), max=1.0))
        assert event.coef == coef
        assert event.clipped == (coef < 1.0)
        assert list(event.grads) == names
        for name, before, after in zip(names, call["before"], call["after"]):
            assert flat(event.grads[name].before) == values(before)
            assert flat(event.grads[name].after) == values(after)
            assert values(after) == values(before * torch.tensor(coef))
    # The gradients the step then used are the clipped ones: its update matches them.
    assert any(e.clipped for e in clips) and not all(e.clipped for e in clips)


def test_mlp_clip_ops_are_not_the_scripts(run_script) -> None:
    tl = run_script(MLP)
    clip_lines = {(e.file, e.line) for e in of_kind(tl, "clip")}
    ops_there = [e.op for e in of_kind(tl, "op") if (e.file, e.line) in clip_lines]
    assert ops_there == []  # _foreach_norm, stack, clamp, _foreach_mul_ are torch's own


BUSY = """
import torch
from torch import nn
torch.manual_seed(0)
net = nn.Linear(3, 1)
opt = torch.optim.SGD(net.parameters(), lr=0.01)
x, y = torch.randn(16, 3), torch.randn(16, 1)
for step in range(120):
    opt.zero_grad()
    nn.functional.mse_loss(net(x), y).backward()
    if step < 45:
        nn.utils.clip_grad_norm_(net.parameters(), 100.0 if step % 10 == 0 else 1e-3)  # most of the first 45
    total = nn.utils.clip_grad_norm_(net.parameters(), 0.05)
    print(total.item())
    opt.step()
"""


def test_busy_note_once_by_the_documented_rule(run_script, tmp_path) -> None:
    """More than 80% of the last 50 calls at a line clipped: said once, at the call that made it so."""
    script = write(tmp_path, BUSY)
    totals = [float(line) for line in python_stdout(script).splitlines()]
    clipped = [t > 0.05 for t in totals]  # what torch's coefficient min(0.05 / (t + 1e-6), 1) says
    expected = next(i for i in range(BUSY_WINDOW - 1, len(clipped))
                    if sum(clipped[i + 1 - BUSY_WINDOW:i + 1]) > BUSY_SHARE * BUSY_WINDOW)
    tl = run_script(script)
    at_line = [e for e in of_kind(tl, "clip") if e.max == 0.05]
    assert [e.clipped for e in at_line] == clipped and [e.total_norm for e in at_line] == totals
    noted = [i for i, e in enumerate(at_line) if e.notes]
    assert noted == [expected]
    (note,) = at_line[expected].notes
    assert f"clipping was active on {sum(clipped[expected + 1 - BUSY_WINDOW:expected + 1])} of the last 50 " \
        "clip_grad_norm_ calls at this line, so the threshold may be too low" in note
    # The other line clipped on 40 of its 45 calls: fewer than 50, never said.
    assert all(e.notes == () for e in of_kind(tl, "clip") if e.max != 0.05)


def test_two_optimizers_clip_by_value(run_script, monkeypatch) -> None:
    """``nn.utils.clip_grad_value_(head.parameters(), clip_value=0.05)``: each grad clamped as torch did."""
    spy, printed = direct_run(TWO, monkeypatch, "clip_grad_value_")
    tl = run_script(TWO)
    assert stdout(tl) == printed == plain(TWO).stdout
    clips = of_kind(tl, "clip")
    assert len(clips) == len(spy.calls) == 20
    for event, call in zip(clips, spy.calls):
        assert (event.function, event.max, event.norm_type, event.total_norm, event.coef) == \
            ("clip_grad_value_", 0.05, None, None, None)
        assert list(event.grads) == ["head.weight", "head.bias"]
        changed = any(not torch.equal(b, a) for b, a in zip(call["before"], call["after"]))
        assert event.clipped == changed
        for name, after in zip(event.grads, call["after"]):
            assert flat(event.grads[name].after) == values(after)
    assert any(e.clipped for e in clips)


def test_cli_trace(tmp_path) -> None:
    """``gradtui --trace`` prints as python does, and says what each clip did."""
    trace = gradtui("--trace", MLP)
    p = plain(MLP)
    assert (trace.returncode, p.returncode) == (0, 0)
    assert [line.split("'")[1] for line in trace.stdout.splitlines() if "output    '" in line] == \
        p.stdout.splitlines()
    first_norm = float(p.stdout.split("grad norm ")[1].split()[0])  # step 0's, as the script printed it
    coef = min(1.0 / (first_norm + 1e-6), 1.0)
    (first,) = [line for line in trace.stdout.splitlines() if line.startswith("L24   clip")][:1]
    assert first.startswith(f"L24   clip      clip_grad_norm_ total norm {first_norm:.6g} > max 1: × ")
    assert float(first.split("× ")[1].split()[0]) == pytest.approx(coef, rel=1e-5)
    assert all(f"  {name}.grad <" in first for name in ("net.0.weight", "net.0.bias", "net.2.weight"))


# ---------------------------------------------------------------------------- the forms of a call


FORMS = """
import torch
from torch import nn
import torch.nn.utils.clip_grad as clip_module

torch.manual_seed(0)
w = torch.randn(3, requires_grad=True)
unused = torch.zeros(2, requires_grad=True)
net = nn.Linear(3, 2)
x = torch.randn(4, 3)

def grads():
    w.grad = None
    net.zero_grad()
    (net(x * w).pow(2).sum() * 10).backward()

grads()
t1 = torch.nn.utils.clip_grad_norm_([w, unused, *net.parameters()], 0.5)
print("t1", t1.item(), w.grad.tolist())
grads()
t2 = nn.utils.clip_grad_norm_(w, 0.1, norm_type=float("inf"), foreach=False)
print("t2", t2.item(), w.grad.tolist())
grads()
t3 = clip_module.clip_grad_norm_((p for p in net.parameters()), 3.0)
print("t3", t3.item())
grads()
total = nn.utils.get_total_norm([p.grad for p in net.parameters()], norm_type=1.0)
nn.utils.clip_grads_with_norm_(net.parameters(), 2.0, total)
print("t4", total.item(), net.weight.grad.tolist())
grads()
nn.utils.clip_grad_value_(w, 1e9)
print("t5", w.grad.tolist())
"""


def test_every_spelling_of_a_call_is_one_event(run_script, tmp_path) -> None:
    script = write(tmp_path, FORMS)
    expected = python_stdout(script)
    tl = run_script(script)
    assert tl.status == "finished" and stdout(tl) == expected
    printed = {line.split()[0]: line.split(maxsplit=1)[1] for line in expected.splitlines()}
    clips = of_kind(tl, "clip")
    assert [e.function for e in clips] == ["clip_grad_norm_", "clip_grad_norm_", "clip_grad_norm_",
                                           "clip_grads_with_norm_", "clip_grad_value_"]
    first, inf_norm, generator, with_norm, value = clips
    # A parameter without a gradient is listed, None before and after, and counts for nothing.
    assert list(first.grads) == ["w", "unused", "net.weight", "net.bias"]
    assert first.grads["unused"].before is None and first.grads["unused"].after is None
    assert first.total_norm == float(printed["t1"].split()[0])
    assert flat(first.grads["w"].after) == eval(printed["t1"].split(maxsplit=1)[1])
    assert inf_norm.norm_type == math.inf and list(inf_norm.grads) == ["w"]
    assert inf_norm.total_norm == float(printed["t2"].split()[0])
    assert inf_norm.total_norm == max(abs(v) for v in flat(inf_norm.grads["w"].before) or [])
    assert generator.total_norm == float(printed["t3"]) and generator.max == 3.0
    # get_total_norm is no event; its norm type reaches the clip it was computed for.
    assert (with_norm.norm_type, with_norm.max) == (1.0, 2.0)
    assert with_norm.total_norm == float(printed["t4"].split()[0])
    assert flat(with_norm.grads["net.weight"].after) == [v for row in eval(printed["t4"].split(maxsplit=1)[1])
                                                         for v in row]
    assert value.clipped is False and flat(value.grads["w"].after) == eval(printed["t5"])
    assert [e.op for e in of_kind(tl, "op") if e.op in ("_foreach_norm", "linalg_vector_norm", "stack")] == []


def test_an_empty_generator_warns_as_under_python(run_script, tmp_path) -> None:
    script = write(tmp_path, """
        import torch
        print(torch.nn.utils.clip_grad_norm_((p for p in []), 1.0).item())
    """)
    p = plain(script)
    assert "empty generator" in p.stderr
    r = gradtui("--record", tmp_path / "run.db", script)
    assert (r.returncode, r.stdout) == (p.returncode, p.stdout)
    assert [line for line in r.stderr.splitlines() if "empty generator" in line] == \
        [line for line in p.stderr.splitlines() if "empty generator" in line]


NONFINITE = """
import torch
w = torch.ones(3, requires_grad=True)
v = torch.ones(2, requires_grad=True)
opt = torch.optim.SGD([w, v], lr=0.1)
(w * torch.tensor([1.0, float("inf"), 2.0])).sum().backward()
(v * 3).sum().backward()
try:
    torch.nn.utils.clip_grad_norm_([w, v], 1.0, error_if_nonfinite=True)
except RuntimeError as e:
    print("raised", str(e).split(",")[0])
total = torch.nn.utils.clip_grad_norm_([w, v], 1.0)
print("total", total.item(), w.grad.tolist(), v.grad.tolist())
opt.step()
print("weights", w.tolist(), v.tolist())
"""


def test_a_non_finite_norm_is_noted_and_error_if_nonfinite_raises_as_torch_does(run_script, tmp_path) -> None:
    script = write(tmp_path, NONFINITE)
    expected = python_stdout(script)
    assert "raised The total norm of order 2.0" in expected
    tl = run_script(script)
    assert tl.status == "finished" and stdout(tl) == expected
    clips = of_kind(tl, "clip")
    assert len(clips) == 1  # the call that raised changed nothing and is the error's to tell
    event = clips[0]
    assert event.total_norm == math.inf and event.coef == 0.0 and event.clipped
    after = flat(event.grads["w"].after) or []
    assert math.isnan(after[1]) and after[0] == after[2] == 0.0  # inf × 0
    assert flat(event.grads["v"].after) == [0.0, 0.0]
    (note,) = event.notes
    assert "total gradient norm is inf (w.grad not finite)" in note
    assert "next step() will write NaN into the weights" in note
    assert "error_if_nonfinite=True" in note
    assert "nan" in expected.split("weights")[1]  # as the note says
    assert describe(tl.events, event.seq).startswith("clip_grad_norm_ total norm inf, max 1: not finite")


def test_other_threads_are_not_recorded(run_script, tmp_path) -> None:
    script = write(tmp_path, """
        import threading
        import torch
        w = torch.ones(3, requires_grad=True)
        (w * 5).sum().backward()
        t = threading.Thread(target=lambda: torch.nn.utils.clip_grad_norm_([w], 1.0))
        t.start(); t.join()
        print(w.grad.tolist())
    """)
    tl = run_script(script)
    assert stdout(tl) == python_stdout(script)
    assert of_kind(tl, "clip") == []
