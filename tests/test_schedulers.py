"""Learning-rate schedulers recorded as ``schedule`` events, checked against torch run directly.

Every expected lr comes from the same scheduler driven here by torch (``get_last_lr()``
after each ``step()``, the groups' values after construction) or from what the script
printed under plain python; never from an earlier gradtui run.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler

from gradtui.model.events import LrScheduled
from gradtui.model.sentences import describe
from tests.conftest import SCRIPTS
from tests.helpers import of_kind, python_stdout, stdout
from tests.helpers import plain_python as plain
from tests.recording_tools import gradtui

REAL = SCRIPTS / "real"
MLP = REAL / "mlp_adamw_onecycle.py"
TWO = REAL / "two_optimizers.py"


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(source))
    return path


def driven(make: Callable[[torch.optim.Optimizer], Any], groups: list[dict[str, Any]], opt_cls: Any,
           steps: int, step_args: Callable[[int], tuple[Any, ...]] = lambda i: (),
           **opt_kwargs: Any) -> tuple[list[float], list[list[float]], list[dict[str, Any]]]:
    """A scheduler driven by torch alone: the lrs before construction, after each step, and each
    step's group values (for momentum and betas)."""
    params = [{**g, "params": [torch.zeros(1, requires_grad=True)]} for g in groups]
    opt = opt_cls(params, **opt_kwargs)
    first = [g["lr"] for g in opt.param_groups]
    sched = make(opt)
    lrs = [[g["lr"] for g in opt.param_groups]]
    values = [dict(opt.param_groups[0])]
    for i in range(steps):
        opt.step()
        sched.step(*step_args(i))
        lrs.append([float(x) for x in sched.get_last_lr()])
        values.append(dict(opt.param_groups[0]))
    return first, lrs, values


def schedule_of(tl: Any, name: str) -> list[LrScheduled]:
    return [e for e in of_kind(tl, "schedule") if e.scheduler.name == name]


# ---------------------------------------------------------------------------- the corpus


def test_mlp_onecycle_every_lr_and_beta_is_torchs(run_script) -> None:
    first, lrs, groups = driven(lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=50), [{}],
                                torch.optim.AdamW, 50, lr=1e-3, weight_decay=0.01)
    tl = run_script(MLP)
    assert stdout(tl) == plain(MLP).stdout
    events = schedule_of(tl, "sched")
    assert all(e.scheduler.cls == "OneCycleLR" and e.optimizer.name == "opt" for e in events)
    assert all(e.optimizer.cls == "AdamW" for e in events)
    # The construction moved lr and betas: one event, at its line; then one per step(). No note:
    # a healthy script (tests/test_notes.py runs every corpus script for notes).
    built, *stepped = events
    assert built.line == 16 and built.lrs == ((first[0], lrs[0][0]),)
    assert built.changes == ({"betas": ((0.9, 0.999), groups[0]["betas"])},)
    assert len(stepped) == 50 and all(e.line == 26 for e in stepped)
    assert [n for e in tl.events for n in e.notes] == []
    for i, e in enumerate(stepped):
        assert e.lrs == ((lrs[i][0], lrs[i + 1][0]),)
        assert e.changes == ({"betas": (groups[i]["betas"], groups[i + 1]["betas"])},)
    # The step events' lr is the one the scheduler set before them.
    steps = of_kind(tl, "step")
    assert [s.hyperparams[0]["lr"] for s in steps] == [x[0] for x in lrs[:-1]]
    assert describe(tl.events, stepped[0].seq).startswith(
        f"sched.step() (OneCycleLR) on opt: lr {lrs[0][0]:.6g} → {lrs[1][0]:.6g}")


def test_two_optimizers_each_named_with_per_group_lrs(run_script, tmp_path) -> None:
    groups = [{"lr": 0.01}, {}]
    _, body, _ = driven(lambda o: lr_scheduler.StepLR(o, step_size=5, gamma=0.5), groups, torch.optim.SGD, 20,
                        lr=0.1, momentum=0.9)
    _, head, _ = driven(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.001), [{}],
                        torch.optim.Adam, 20, lr=0.05)
    # Recorded by the CLI as a user runs it: same output and exit code as python.
    out = tmp_path / "run.db"
    r = gradtui("--record", out, TWO)
    p = plain(TWO)
    assert (r.returncode, r.stdout) == (p.returncode, p.stdout) == (0, p.stdout)
    tl = run_script(TWO)
    # Neither constructor moved anything: no event for them, one per step() call.
    for name, opt, cls, expected in (("sched_body", "opt_body", "StepLR", body),
                                     ("sched_head", "opt_head", "CosineAnnealingLR", expected_head := head)):
        events = schedule_of(tl, name)
        assert len(events) == 20
        assert {(e.scheduler.cls, e.optimizer.name) for e in events} == {(cls, opt)}
        assert [tuple(b for b, _ in e.lrs) for e in events] == [tuple(x) for x in expected[:-1]]
        assert [tuple(a for _, a in e.lrs) for e in events] == [tuple(x) for x in expected[1:]]
    assert len(of_kind(tl, "schedule")) == 40
    # step and zero_grad events are named by each optimizer's variable, with per-group lrs.
    steps = of_kind(tl, "step")
    assert [s.optimizer.name for s in steps[:2]] == ["opt_body", "opt_head"]
    body_steps = [s for s in steps if s.optimizer.name == "opt_body"]
    assert [[g["lr"] for g in s.hyperparams] for s in body_steps] == [list(x) for x in body[:-1]]
    assert [[g["lr"] for g in s.hyperparams] for s in steps if s.optimizer.name == "opt_head"] == \
        [list(x) for x in expected_head[:-1]]
    assert {z.optimizer.name for z in of_kind(tl, "zero_grad")} == {"opt_body", "opt_head"}
    assert list(body_steps[0].params) == ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"]
    # --trace reads sensibly.
    trace = gradtui("--trace", TWO)
    assert trace.returncode == 0
    assert f"schedule  sched_body(StepLR) lr 0.01,0.1 → {body[5][0]:g},{body[5][1]:g}" in trace.stdout
    assert "step      opt_body(SGD) lr=0.01,0.1  body.0.weight" in trace.stdout


# ---------------------------------------------------------------------------- kinds of scheduler


PLATEAU = """
import torch
w = torch.zeros(2, requires_grad=True)
opt = torch.optim.SGD([w], lr=1.0)
plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
for metric in [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8]:
    opt.step()
    plateau.step(metric)
    print(plateau.get_last_lr())
"""


def test_reduce_lr_on_plateau_takes_its_metric(run_script, tmp_path) -> None:
    script = write(tmp_path, PLATEAU)
    printed = [ast.literal_eval(line)[0] for line in python_stdout(script).splitlines()]
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8]
    _, lrs, _ = driven(lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=1), [{}],
                       torch.optim.SGD, len(metrics), lambda i: (metrics[i],), lr=1.0)
    assert printed == [x[0] for x in lrs[1:]] and len(set(printed)) > 2  # it did reduce, twice
    tl = run_script(script)
    events = of_kind(tl, "schedule")
    assert len(events) == len(metrics)  # the constructor steps nothing
    assert [e.lrs[0] for e in events] == [(lrs[i][0], lrs[i + 1][0]) for i in range(len(metrics))]
    assert {(e.scheduler.name, e.scheduler.cls, e.optimizer.name) for e in events} == \
        {("plateau", "ReduceLROnPlateau", "opt")}


COMPOSED = """
import torch
from torch.optim import lr_scheduler as L
w = torch.zeros(1, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
warm = L.LinearLR(opt, start_factor=0.5, total_iters=2)
cos = L.CosineAnnealingLR(opt, T_max=4)
seq = L.SequentialLR(opt, [warm, cos], milestones=[2])
for _ in range(5):
    opt.step()
    seq.step()
    print(seq.get_last_lr())
opt2 = torch.optim.SGD([w], lr=0.1, momentum=0.9)
chain = L.ChainedScheduler([L.ExponentialLR(opt2, gamma=0.9), L.LambdaLR(opt2, lambda e: 1 / (e + 1))])
for _ in range(3):
    opt2.step()
    chain.step()
    print(chain.get_last_lr())
opt3 = torch.optim.SGD([w], lr=0.1, momentum=0.9)
cyc = L.CyclicLR(opt3, base_lr=0.01, max_lr=0.1, step_size_up=2)
for _ in range(3):
    opt3.step()
    cyc.step()
    print(cyc.get_last_lr(), opt3.param_groups[0]["momentum"])

class Halving(L.LRScheduler):
    def get_lr(self):
        return [g["lr"] * 0.5 if self.last_epoch > 0 else g["lr"] for g in self.optimizer.param_groups]

    def step(self):
        super().step()

opt4 = torch.optim.SGD([w], lr=0.8)
half = Halving(opt4)
for _ in range(3):
    opt4.step()
    half.step()
    print(half.get_last_lr())
"""


def test_composed_cyclic_and_user_schedulers_are_one_event_per_call(run_script, tmp_path) -> None:
    script = write(tmp_path, COMPOSED)
    lines = python_stdout(script).splitlines()
    tl = run_script(script)
    assert tl.status == "finished"
    assert stdout(tl) == "\n".join(lines) + "\n"
    source = script.read_text().splitlines()
    built_at = {i + 1 for i, text in enumerate(source) if re.match(r"\w+ = (L\.\w+|Halving)\(", text)}
    assert len(built_at) == 6  # warm, cos, seq, chain (and its two inner ones), cyc, half
    built = [e for e in of_kind(tl, "schedule") if e.line in built_at]
    seq, chain, cyc, half = ([e for e in schedule_of(tl, n) if e.line not in built_at]
                             for n in ("seq", "chain", "cyc", "half"))
    # SequentialLR / ChainedScheduler step their inner schedulers: still one event per call.
    assert len(seq) == 5 and len(chain) == 3 and len(cyc) == 3 and len(half) == 3
    assert [e.lrs[0][1] for e in seq] == [ast.literal_eval(x)[0] for x in lines[0:5]]
    assert [e.lrs[0][1] for e in chain] == [ast.literal_eval(x)[0] for x in lines[5:8]]
    assert [e.lrs[0][1] for e in half] == [ast.literal_eval(x)[0] for x in lines[11:14]] == [0.4, 0.2, 0.1]
    assert all(e.scheduler.cls == "Halving" and e.optimizer.name == "opt4" for e in half)
    # CyclicLR moves momentum too, and says so.
    momenta = [float(x.rsplit(" ", 1)[1]) for x in lines[8:11]]
    assert [e.changes[0]["momentum"][1] for e in cyc] == momenta
    assert [e.lrs[0][1] for e in cyc] == [ast.literal_eval(x.rsplit(" ", 1)[0])[0] for x in lines[8:11]]
    # Constructions: LinearLR halved the lr (an event with a note); SequentialLR's own reset
    # and replay left it as LinearLR had set it (none); CyclicLR set base_lr and momentum.
    assert [(e.scheduler.name, e.scheduler.cls) for e in built] == [("warm", "LinearLR"), ("cyc", "CyclicLR")]
    assert built[0].lrs == ((0.1, 0.05),)
    assert built[1].lrs == ((0.1, 0.01),)
    assert len(of_kind(tl, "schedule")) == 5 + 3 + 3 + 3 + 2


def test_constructors_that_move_nothing_are_no_event(run_script, tmp_path) -> None:
    script = write(tmp_path, """
        import torch
        from torch.optim import lr_scheduler as L
        w = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1)
        a = L.StepLR(opt, step_size=2)
        b = L.ExponentialLR(opt, gamma=0.9)
        c = L.LambdaLR(opt, lambda e: 1.0)
        d = L.CosineAnnealingWarmRestarts(opt, T_0=3)
        print(opt.param_groups[0]["lr"])
    """)
    tl = run_script(script)
    assert stdout(tl) == "0.1\n"
    assert of_kind(tl, "schedule") == []


def test_another_threads_scheduler_is_not_recorded(run_script, tmp_path) -> None:
    script = write(tmp_path, """
        import threading
        import torch
        w = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1)
        s = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        t = threading.Thread(target=s.step)
        t.start(); t.join()
        s.step()
        print(s.get_last_lr())
    """)
    tl = run_script(script)
    assert stdout(tl) == "[0.025]\n"
    (event,) = of_kind(tl, "schedule")
    assert event.lrs == ((0.05, 0.025),)


@pytest.mark.parametrize("defined", ["before", "during"])
def test_patches_are_removed_after_the_run(run_script, tmp_path, defined: str) -> None:
    assert not hasattr(lr_scheduler.StepLR.__init__, "__wrapped__")
    run_script(write(tmp_path, "import torch\nclass S(torch.optim.lr_scheduler.StepLR):\n    pass\n"
                     if defined == "during" else "import torch\n"))
    assert not hasattr(lr_scheduler.StepLR.__init__, "__wrapped__")
    assert not hasattr(lr_scheduler.LRScheduler.step, "__wrapped__")
    assert "__init_subclass__" not in lr_scheduler.LRScheduler.__dict__
    assert not hasattr(torch.nn.utils.clip_grad_norm_, "__gradtui__")
    assert torch.nn.utils.clip_grad_norm_ is torch.nn.utils.clip_grad.clip_grad_norm_


def test_torchs_warning_about_the_order_of_steps_names_the_scripts_line(tmp_path) -> None:
    script = write(tmp_path, """
        import torch
        w = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1)
        s = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        s.step()
        print(s.get_last_lr())
    """)
    p = plain(script)
    r = gradtui("--record", tmp_path / "run.db", script)
    assert (r.returncode, r.stdout) == (p.returncode, p.stdout) == (0, "[0.05]\n")
    warning = [line for line in p.stderr.splitlines() if "Detected call of `lr_scheduler.step()`" in line]
    assert warning and warning[0].startswith(f"{script}:6: UserWarning")
    assert [line for line in r.stderr.splitlines() if "Detected call of" in line] == warning
