"""Hooks the script registers, recorded as ``hook`` events with the gradients they saw and left.

Expected values come from torch directly: the corpus script run by ``runpy`` with its
hooks watched by plain wrappers, or a small script's gradients recomputed here.
"""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from gradtui.model.events import BackwardDone, GradHooked
from tests.conftest import SCRIPTS
from tests.helpers import close, flat, of_kind, stdout
from tests.helpers import plain_python as python
from tests.helpers import tensor_values as values

ACCUMULATION = SCRIPTS / "real" / "accumulation_hook.py"


def torch_run_of_accumulation(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(hook name, gradient received, gradient left)`` for each hook call, under plain torch."""
    calls: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    register, post = torch.Tensor.register_hook, torch.Tensor.register_post_accumulate_grad_hook

    def watched(self: torch.Tensor, fn: Any) -> Any:
        def hook(g: torch.Tensor) -> Any:
            before = g.clone()
            out = fn(g)
            calls.append((fn.__name__, before, out.clone()))
            return out
        return register(self, hook)

    def watched_post(self: torch.Tensor, fn: Any) -> Any:
        def hook(p: torch.Tensor) -> None:
            fn(p)
            calls.append((fn.__name__, p.grad.clone(), p.grad.clone()))
        return post(self, hook)

    monkeypatch.setattr(torch.Tensor, "register_hook", watched)
    monkeypatch.setattr(torch.Tensor, "register_post_accumulate_grad_hook", watched_post)
    runpy.run_path(str(ACCUMULATION), run_name="__main__")
    return calls


def test_accumulation_hooks_run_as_under_python_and_record_torchs_gradients(
        run_script: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = python(ACCUMULATION)
    tl = run_script(ACCUMULATION)
    assert stdout(tl) == plain.stdout and tl.exit_code == plain.returncode == 0
    expected = torch_run_of_accumulation(monkeypatch)
    events: list[GradHooked] = of_kind(tl, "hook")
    # 3 steps × 4 micro-batches; the halving hook is removed after step 1.
    assert [e.hook for e in events] == [name for name, _, _ in expected]
    assert sum(e.hook == "halve" for e in events) == 8 and sum(e.hook == "report" for e in events) == 12
    for event, (_, before, after) in zip(events, expected):
        assert event.target == "net.0.weight"
        assert event.where == ("tensor" if event.hook == "halve" else "post_accumulate")
        assert close(flat(event.before[0]), values(before)) and close(flat(event.after[0]), values(after))
        assert event.changed == (event.hook == "halve")
        assert bool(event.notes) == event.changed
        assert event.node is not None and tl.graph[event.node].name == "AccumulateGrad"
    assert "hook halve on net.0.weight changed its gradient: norm" in events[0].notes[0]
    # The .grad each backward left is the halved sum, as torch accumulated it.
    backwards: list[BackwardDone] = of_kind(tl, "backward")
    reports = [after for name, _, after in expected if name == "report"]
    assert len(backwards) == len(reports) == 12
    for event, grad in zip(backwards, reports):
        assert close(flat(event.grads["net.0.weight"].after), values(grad))


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text("import torch\nfrom torch import nn\ntorch.manual_seed(0)\n" + textwrap.dedent(body))
    return path


def test_activation_and_module_hooks_in_place_and_removed(tmp_path: Path, run_script: Any) -> None:
    script = write(tmp_path, """
        w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
        lin = nn.Linear(3, 2)

        def scale_in_place(g):
            g.mul_(3)

        def clip_inputs(module, grad_input, grad_output):
            return tuple(None if g is None else g.clamp(-0.1, 0.1) for g in grad_input)

        def look(module, grad_output):
            return None

        h = w * w
        handle = h.register_hook(scale_in_place)
        lin.register_full_backward_hook(clip_inputs)
        lin.register_full_backward_pre_hook(look)
        lin(h).sum().backward()
        print(w.grad.tolist())
        handle.remove()
        w.grad = None
        h2 = w * w
        lin(h2).sum().backward()
        print(w.grad.tolist())
    """)
    plain = python(script)
    tl = run_script(script)
    assert stdout(tl) == plain.stdout and tl.exit_code == plain.returncode == 0
    events: list[GradHooked] = of_kind(tl, "hook")
    # torch direct: the same module and gradients.
    torch.manual_seed(0)
    w = torch.tensor([1.0, -2.0, 3.0])
    lin = torch.nn.Linear(3, 2)
    grad_out = torch.ones(2)
    grad_h = lin.weight.detach().t() @ grad_out
    clipped = grad_h.clamp(-0.1, 0.1)
    first = events[:3]
    assert [(e.hook, e.where, e.target) for e in first] == [
        ("look", "module_pre", "lin"), ("clip_inputs", "module", "lin"), ("scale_in_place", "tensor", "h")]
    pre, module, tensor = first
    assert close(flat(pre.before[0]), values(grad_out)) and not pre.changed
    assert close(flat(module.before[0]), values(grad_h)) and close(flat(module.after[0]), values(clipped))
    assert module.changed
    assert close(flat(tensor.before[0]), values(clipped)) and close(flat(tensor.after[0]), values(clipped * 3))
    assert tensor.changed and tensor.node is not None and tl.graph[tensor.node].name == "MulBackward0"
    # After handle.remove() only the module hooks are recorded.
    assert [e.hook for e in events[3:]] == ["look", "clip_inputs"]
    backwards: list[BackwardDone] = of_kind(tl, "backward")
    assert close(flat(backwards[0].grads["w"].after), values(clipped * 3 * 2 * w))
    # NodeRun of the hooked node records what it received: the gradient the hook left.
    (mul,) = [run for run in backwards[0].nodes if run.id == tensor.node]
    assert close(flat(mul.grad_in[0]), values(clipped * 3))
