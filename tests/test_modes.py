"""``model.train()`` / ``model.eval()`` and the grad modes as ``mode`` events, one per switch the script makes.

The truth each test is held to: the script's printed output under plain python (dropout
is only off when eval really happened), torch's own ``torch.is_grad_enabled()`` /
``torch.is_inference_mode_enabled()`` printed by the script at each point, and the
script's lines. torch's internal grad-mode switches (in Adam's step, in
``clip_grad_norm_``, in ``nn.init`` while a module is built) must make no event.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gradtui.model.formatting import summary
from gradtui.model.sentences import describe
from tests.conftest import REPO, SCRIPTS
from tests.helpers import of_kind, stdout

LSTM = SCRIPTS / "real" / "lstm_validation.py"


def _lines(script: Path, needle: str) -> list[int]:
    """The lines of code (not comments) that contain ``needle``."""
    return [i for i, s in enumerate(script.read_text().splitlines(), 1)
            if needle in s and not s.lstrip().startswith("#")]


def test_lstm_validation_runs_as_under_python_with_one_event_per_switch(run_script):
    plain = subprocess.run([sys.executable, str(LSTM)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    tl = run_script(LSTM)
    assert (tl.status, tl.exit_code, stdout(tl)) == ("finished", 0, plain.stdout)

    modes = of_kind(tl, "mode")
    module_events = [e for e in modes if e.target != "grad"]
    train_line, = _lines(LSTM, "    model.train()")
    eval_lines = _lines(LSTM, "model.eval()")
    # Three epochs of train() and eval(), and the eval() before the test: one event per call,
    # though train() reaches lstm, drop and head too and eval() calls train(False).
    assert [(e.line, e.target, e.cls, e.mode) for e in module_events] == [
        *[(line, "model", "SequenceRegressor", mode) for _ in range(3)
          for line, mode in ((train_line, "train"), (eval_lines[0], "eval"))],
        (eval_lines[1], "model", "SequenceRegressor", "eval")]

    grad_events = [(e.line, e.mode) for e in modes if e.target == "grad"]
    no_grad_line, = _lines(LSTM, "with torch.no_grad():")
    evaluate_line, = _lines(LSTM, "(again {evaluate(model, val_data)")
    inference_line, = _lines(LSTM, "with torch.inference_mode():")
    # Entering and leaving each region the script opened; none for Adam's step, clipping or
    # the LSTM's construction, which switch grad mode inside torch.
    epoch = [(no_grad_line, "no_grad"), (no_grad_line, "grad"), (evaluate_line, "no_grad"), (evaluate_line, "grad")]
    assert grad_events == epoch * 3 + [(inference_line, "inference"), (inference_line, "grad")]

    # The ops between the switches ran as the events say.
    ops = of_kind(tl, "op")
    val_ops = [e for e in ops if e.line == no_grad_line + 1]
    assert val_ops and not any(e.grad_enabled for e in val_ops)
    test_ops = [e for e in ops if e.line == inference_line + 1]
    assert test_ops and all(e.inference and not e.grad_enabled for e in test_ops)
    dropouts = [e for e in ops if e.op == "dropout"]
    assert {e.grad_enabled for e in dropouts if "training=False" in e.args} == {False}

    # --trace and the status line say it plainly.
    first_eval = module_events[1]
    assert summary(first_eval) == "mode      model.eval()"
    assert describe(tl.events, first_eval.seq).startswith("model.eval(): evaluation mode")
    first_grad = next(e for e in modes if e.target == "grad")
    assert summary(first_grad) == "mode      grad mode: no_grad"


GRAD_FORMS = """\
import torch


def state():
    return "inference" if torch.is_inference_mode_enabled() else "grad" if torch.is_grad_enabled() else "no_grad"


@torch.no_grad()
def no_grad_fn():
    print("in no_grad_fn", state())


@torch.enable_grad()
def enable_grad_fn():
    print("in enable_grad_fn", state())


@torch.inference_mode()
def inference_fn():
    print("in inference_fn", state())


torch.manual_seed(0)
w = torch.nn.Parameter(torch.randn(3))
opt = torch.optim.Adam([w], lr=0.1)
loss = (w * w).sum()
loss.backward()
torch.nn.utils.clip_grad_norm_([w], 0.5)
opt.step()
torch.nn.init.uniform_(w)
with torch.no_grad():
    with torch.no_grad():
        print("nested", state())
    enable_grad_fn()
torch.set_grad_enabled(False)
print("after set_grad_enabled(False)", state())
torch.set_grad_enabled(True)
with torch.set_grad_enabled(False):
    print("in set_grad_enabled(False)", state())
with torch.set_grad_enabled(True):
    print("no change", state())
no_grad_fn()
inference_fn()
with torch.inference_mode():
    with torch.inference_mode(False):
        print("inference off inside", state())
print("end", state())
"""


def test_every_grad_mode_form_makes_an_event_only_where_the_script_switches(run_script, tmp_path):
    script = tmp_path / "grad_forms.py"
    script.write_text(GRAD_FORMS)
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    tl = run_script(script)
    assert stdout(tl) == plain.stdout
    first = {needle: _lines(script, needle)[0] for needle in (
        "with torch.no_grad():", "    enable_grad_fn()", "torch.set_grad_enabled(False)",
        "torch.set_grad_enabled(True)", "with torch.set_grad_enabled(False):", "with torch.inference_mode():",
        "with torch.inference_mode(False):")}
    no_grad_call, inference_call = _lines(script, "no_grad_fn()")[-1], _lines(script, "inference_fn()")[-1]
    grad = [(e.line, e.mode) for e in of_kind(tl, "mode") if e.target == "grad"]
    assert grad == [
        (first["with torch.no_grad():"], "no_grad"),
        # the inner no_grad changed nothing; the decorated function switches at its call
        (first["    enable_grad_fn()"], "grad"), (first["    enable_grad_fn()"], "no_grad"),
        (first["with torch.no_grad():"], "grad"),
        (first["torch.set_grad_enabled(False)"], "no_grad"),  # the plain call, not a context manager
        (first["torch.set_grad_enabled(True)"], "grad"),
        (first["with torch.set_grad_enabled(False):"], "no_grad"),
        (first["with torch.set_grad_enabled(False):"], "grad"),
        # with torch.set_grad_enabled(True): no change, no event
        (no_grad_call, "no_grad"), (no_grad_call, "grad"),
        (inference_call, "inference"), (inference_call, "grad"),
        (first["with torch.inference_mode():"], "inference"),
        (first["with torch.inference_mode(False):"], "grad"),
        (first["with torch.inference_mode(False):"], "inference"),
        (first["with torch.inference_mode():"], "grad"),
    ]
    # What the script printed at each point agrees with the mode the last event set.
    printed = dict(row.rsplit(" ", 1) for row in plain.stdout.splitlines())
    assert printed == {"nested": "no_grad", "in enable_grad_fn": "grad", "after set_grad_enabled(False)": "no_grad",
                       "in set_grad_enabled(False)": "no_grad", "no change": "grad", "in no_grad_fn": "no_grad",
                       "in inference_fn": "inference", "inference off inside": "grad", "end": "grad"}


MODULE_FORMS = """\
import torch
import torch.nn as nn


class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
        self.norm = nn.BatchNorm1d(2)

    def train(self, mode=True):
        super().train(mode)
        self.norm.eval()  # batch statistics stay frozen
        return self


def switch_to_eval(m):
    m.eval()


net = Frozen()
head = nn.Linear(2, 1)
net.train()
net.eval()
net.train(False)
head.eval()
switch_to_eval(head)
net.body.train()
print(net.training, net.body.training, net.norm.training, head.training)
"""


def test_train_and_eval_one_event_per_call_with_overrides_and_helpers(run_script, tmp_path):
    script = tmp_path / "module_forms.py"
    script.write_text(MODULE_FORMS)
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert plain.stdout == "False True False False\n", plain.stderr
    tl = run_script(script)
    assert stdout(tl) == plain.stdout
    got = [(e.line, e.target, e.cls, e.mode) for e in of_kind(tl, "mode")]
    at = {s: _lines(script, s)[-1] for s in ("net.train()", "net.eval()", "net.train(False)", "head.eval()",
                                              "    m.eval()", "net.body.train()")}
    assert got == [
        (at["net.train()"], "net", "Frozen", "train"),
        (at["net.eval()"], "net", "Frozen", "eval"),
        (at["net.train(False)"], "net", "Frozen", "eval"),
        (at["head.eval()"], "head", "Linear", "eval"),
        (at["    m.eval()"], "m", "Linear", "eval"),
        (at["net.body.train()"], "net.body", "Sequential", "train"),
    ]
