"""Mixed precision as the user wrote it: autocast regions on ops, GradScaler unscale, update and skipped steps.

Every value is compared with torch run directly on the same script: the script is run
with ``runpy`` while ``GradScaler``'s methods are observed from outside (the gradients
after each ``unscale_``, the parameters around each ``step`` and whether
``optimizer.step()`` ran at all, the scale around each ``update``), then under gradtui.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from gradtui.model.store.reader import Recording
from tests.conftest import REPO, SCRIPTS
from tests.helpers import flat, of_kind
from tests.recording_tools import gradtui

BF16 = SCRIPTS / "real" / "bf16_autocast_scaler.py"
#: Keep every value of these small models, so gradients compare element by element.
MAX_VALUES = "4096"


@dataclass
class DirectRun:
    """What torch did, observed from outside the scaler."""

    #: (scale divided by, each grad after, any grad not finite) per unscale_.
    unscales: list[tuple[float, list[torch.Tensor], bool]] = field(default_factory=list)
    #: (optimizer.step() ran, each param before, each param after) per scaler.step.
    steps: list[tuple[bool, list[torch.Tensor], list[torch.Tensor]]] = field(default_factory=list)
    #: (scale before, scale after) per update.
    updates: list[tuple[float, float]] = field(default_factory=list)
    namespace: dict[str, Any] = field(default_factory=dict)


def _params(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


def run_directly(script: Path, monkeypatch: pytest.MonkeyPatch) -> DirectRun:
    run = DirectRun()
    cls = torch.amp.GradScaler
    unscale, step, update = cls.unscale_, cls.step, cls.update
    ran: list[object] = []

    def observed_unscale(scaler: Any, opt: Any) -> None:
        scale = scaler.get_scale()
        unscale(scaler, opt)
        grads = [p.grad.detach().clone() for p in _params(opt)]
        run.unscales.append((scale, grads, any(not bool(torch.isfinite(g).all()) for g in grads)))

    def observed_step(scaler: Any, opt: Any, *args: Any, **kwargs: Any) -> Any:
        before, count = [p.detach().clone() for p in _params(opt)], len(ran)
        out = step(scaler, opt, *args, **kwargs)
        run.steps.append((len(ran) > count, before, [p.detach().clone() for p in _params(opt)]))
        return out

    def observed_update(scaler: Any, *args: Any, **kwargs: Any) -> None:
        before = scaler.get_scale()
        update(scaler, *args, **kwargs)
        run.updates.append((before, scaler.get_scale()))

    with monkeypatch.context() as m:
        m.setattr(cls, "unscale_", observed_unscale)
        m.setattr(cls, "step", observed_step)
        m.setattr(cls, "update", observed_update)
        handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: ran.append(opt))
        try:
            run.namespace = runpy.run_path(str(script), run_name="__main__")
        finally:
            handle.remove()
    return run


def _same(summary: Any, expected: torch.Tensor) -> None:
    got = torch.tensor(flat(summary), dtype=expected.dtype).reshape(expected.shape)
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)


def _param_names(run: DirectRun, model: str) -> list[str]:
    return [f"{model}.{n}" for n, _ in run.namespace[model].named_parameters()]


def _record(script: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path / "run.db"
    r = gradtui("--max-values", MAX_VALUES, "--record", out, script)
    return r, Recording(out).timeline()


def _plain(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_bf16_recipe_unscales_skips_and_rescales_as_torch_does(tmp_path, monkeypatch, capsys):
    direct = run_directly(BF16, monkeypatch)
    capsys.readouterr()
    plain = _plain(BF16)
    r, tl = _record(BF16, tmp_path)
    assert (r.stdout, r.returncode) == (plain.stdout, plain.returncode) == (plain.stdout, 0)
    names = _param_names(direct, "model")

    unscaled = of_kind(tl, "unscale")
    assert len(unscaled) == len(direct.unscales) == 30
    for event, (scale, grads, found) in zip(unscaled, direct.unscales):
        assert (event.scaler.name, event.optimizer.name) == ("scaler", "optimizer")
        assert (event.scale, event.found_inf) == (scale, found)
        assert list(event.grads) == names
        for name, grad in zip(names, grads):
            _same(event.grads[name].after, grad)

    steps = of_kind(tl, "step")
    assert len(steps) == len(direct.steps) == 30  # one step event per scaler.step, skipped or not
    for event, (ran, before, after) in zip(steps, direct.steps):
        assert (event.skipped is None) == ran
        for name, b, a in zip(names, before, after):
            _same(event.params[name].before, b)
            _same(event.params[name].after, a)
    skipped = [e for e in steps if e.skipped is not None]
    assert len(skipped) == 1 == sum(not ran for ran, _, _ in direct.steps)
    (skip,) = skipped
    assert skip.skipped == ("GradScaler found inf/NaN in the gradients of optimizer (after unscaling by 65536); "
                            "the parameters were not updated and the scale will be lowered")
    assert all(change.before == change.after for change in skip.params.values())
    assert skip.notes and "optimizer.step() was skipped" in skip.notes[0]
    # AdamW's state as the skip left it: the step count of the step before.
    assert skip.state[names[0]]["step"].scalar() == 17

    scales = [(e.before, e.after) for e in of_kind(tl, "scale")]
    assert scales == direct.updates
    assert [(b, a) for b, a in scales if b != a] == [(65536.0, 32768.0)]
    assert [e.found_inf for e in of_kind(tl, "scale")] == [b != a for b, a in scales]
    # The skip comes between its unscale (inf found) and its update.
    found_at = next(e.seq for e in unscaled if e.found_inf)
    halved_at = next(e.seq for e in of_kind(tl, "scale") if e.found_inf)
    assert found_at < skip.seq < halved_at


def test_autocast_dtype_is_on_the_ops_inside_the_region_only(run_script):
    lines = BF16.read_text().splitlines()
    start = next(i for i, s in enumerate(lines, 1) if "with torch.autocast(" in s)
    inside = {start + 1, start + 2}
    assert "model(x)" in lines[start] and "F.mse_loss" in lines[start + 1]
    tl = run_script(BF16)
    ops = of_kind(tl, "op")
    assert {e.autocast for e in ops if e.line in inside} == {"bfloat16"}
    assert {e.autocast for e in ops if e.line not in inside} == {None}
    # The linear layers ran in bfloat16, the loss in float32 from output.float().
    linears = [e for e in ops if e.line in inside and e.op == "linear"]
    assert linears and {e.output.dtype for e in linears} == {"bfloat16"}
    assert not any(e.inference for e in ops)


AUTOCAST_FORMS = """\
import torch

torch.manual_seed(0)
lin = torch.nn.Linear(4, 4)
x = torch.randn(2, 4)
a = lin(x)
with torch.amp.autocast("cpu"):
    b = lin(x)
    with torch.autocast("cpu", enabled=False):
        c = lin(x)
with torch.autocast(device_type="cpu", dtype=torch.float16):
    d = lin(x)


@torch.autocast("cpu", dtype=torch.bfloat16)
def forward(t):
    return lin(t)


e = forward(x)
with torch.inference_mode():
    f = lin(x)
with torch.no_grad():
    g = lin(x)
print(a.dtype, b.dtype, c.dtype, d.dtype, e.dtype, f.dtype, g.dtype)
"""


def test_every_autocast_form_and_inference_mode_mark_the_ops(run_script, tmp_path):
    script = tmp_path / "forms.py"
    script.write_text(AUTOCAST_FORMS)
    tl = run_script(script)
    assert tl.status == "finished"
    linears = {e.line: e for e in of_kind(tl, "op") if e.op == "linear"}
    source = AUTOCAST_FORMS.splitlines()
    # Each linear's line starts with the variable it makes; forward's own line makes e.
    by_var = {source[line - 1].strip()[0].replace("r", "e"): e for line, e in linears.items()}
    # What torch says each region runs in: the dtypes the script printed.
    printed = "".join(e.text for e in of_kind(tl, "output")).split()
    dtypes = dict(zip("abcdefg", (p.removeprefix("torch.") for p in printed)))
    assert {v: e.output.dtype for v, e in by_var.items()} == dtypes
    assert {v: e.autocast for v, e in by_var.items()} == {
        "a": None, "b": "bfloat16", "c": None, "d": "float16", "e": "bfloat16", "f": None, "g": None}
    assert {v: e.inference for v, e in by_var.items()} == {v: v == "f" for v in "abcdefg"}
    assert {v: e.grad_enabled for v, e in by_var.items()} == {v: v not in "fg" for v in "abcdefg"}


FP16_IMPLICIT = """\
import torch

torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
scaler = torch.amp.GradScaler("cpu")
x, y = torch.randn(16, 4), torch.randn(16, 1)
for i in range(4):
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.float16):
        out = net(x * (1e5 if i == 2 else 1.0))
        loss = torch.nn.functional.mse_loss(out.float(), y)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    print(i, loss.item(), scaler.get_scale())
"""


def test_float16_overflow_is_skipped_inside_step_exactly_when_torch_skips(run_script, tmp_path, monkeypatch, capsys):
    # float16 overflows at 65504: the third batch's activations become inf, no unscale_
    # by hand, so the inf check happens inside scaler.step.
    script = tmp_path / "fp16.py"
    script.write_text(FP16_IMPLICIT)
    direct = run_directly(script, monkeypatch)
    capsys.readouterr()
    assert [ran for ran, _, _ in direct.steps] == [True, True, False, True]
    tl = run_script(script, max_values=4096)
    names = _param_names(direct, "net")
    steps = of_kind(tl, "step")
    assert [e.skipped is None for e in steps] == [ran for ran, _, _ in direct.steps]
    for event, (_, before, after) in zip(steps, direct.steps):
        for name, b, a in zip(names, before, after):
            _same(event.params[name].before, b)
            _same(event.params[name].after, a)
    unscaled = of_kind(tl, "unscale")
    assert [(e.scale, e.found_inf) for e in unscaled] == [(s, f) for s, _, f in direct.unscales]
    assert [e.line for e in unscaled] == [e.line for e in steps]  # inside scaler.step(opt)
    for event, (_, grads, _) in zip(unscaled, direct.unscales):
        for name, grad in zip(names, grads):
            _same(event.grads[name].after, grad)
    assert [(e.before, e.after) for e in of_kind(tl, "scale")] == direct.updates == [
        (65536.0, 65536.0), (65536.0, 65536.0), (65536.0, 32768.0), (32768.0, 32768.0)]
    # SGD's momentum buffers as they were: the skip did not touch them.
    skip = steps[2]
    assert skip.state == steps[1].state


def test_trace_reads_the_scaler_in_plain_words():
    r = gradtui("--trace", BF16)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "unscale   scaler.unscale_(optimizer) ÷65536" in out
    assert "found inf/NaN" in out
    assert ("step      optimizer(AdamW) lr=0.01  skipped: GradScaler found inf/NaN in the gradients of optimizer "
            "(after unscaling by 65536)") in out
    assert "scale     scaler.update() scale 65536 → 32768  (inf/NaN found)" in out
    assert "grad_fn=AddmmBackward0  [autocast bfloat16]" in out
