"""Hooks the script registers, recorded as ``hook`` events with the gradients they saw and left.

Expected values come from torch directly: the corpus script run by ``runpy`` with its
hooks watched by plain wrappers, or a small script's gradients recomputed here.
"""

from __future__ import annotations

import runpy
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.model.events import BackwardDone, GradHooked
from gradtui.model.formatting import format_number
from gradtui.model.reports import Ended
from gradtui.model.sentences import describe
from tests.conftest import SCRIPTS
from tests.helpers import close, flat, of_kind, stdout
from tests.helpers import plain_python as python
from tests.helpers import tensor_values as values
from tests.recording_tools import gradtui

ACCUMULATION = SCRIPTS / "real" / "accumulation_hook.py"


def norm(*tensors: torch.Tensor) -> str:
    """The total norm of ``tensors`` as the notes write it."""
    return format_number(float(torch.linalg.vector_norm(torch.cat([t.reshape(-1).double() for t in tensors]))))


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
        assert event.node is not None and tl.graph[event.node].name == "AccumulateGrad"
    # One note, the first time the hook changed a gradient; the status line says it each time.
    assert [bool(e.notes) for e in events] == [e is events[0] for e in events]
    _, before, after = expected[0]
    assert events[0].notes == (f"hook halve changed the gradient of net.0.weight (norm {norm(before)} → "
                               f"{norm(after)}): from here the gradients of this pass, node by node and in .grad, "
                               "carry the hook's change, not the chain rule's alone.",)
    assert describe(tl.events, events[0].seq).startswith("hook halve on net.0.weight changed the gradient: ")
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


def test_accumulation_trace_and_record(tmp_path: Path) -> None:
    r = gradtui("--record", tmp_path / "acc.db", ACCUMULATION)
    assert (r.returncode, r.stdout) == (0, python(ACCUMULATION).stdout), r.stderr
    trace = gradtui("--trace", ACCUMULATION)
    assert trace.returncode == 0, trace.stderr
    events = [line for line in trace.stdout.splitlines() if line.startswith("L") and line.split()[1] == "hook"]
    halve = [line for line in events if line.split()[2] == "halve"]
    assert len(halve) == 8 and all(line.endswith("[changed]") for line in halve)
    assert "hook      halve on net.0.weight (tensor)  " in halve[0]
    report = [line for line in events if " report on net.0.weight (post_accumulate) " in line]
    assert len(report) == 12 and all(line.endswith("[unchanged]") for line in report)


def write_script(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


# ---------------------------------------------------------------------------- every kind of hook

KINDS = """
import torch
import torch.nn as nn
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
x = torch.randn(4, 3)

def doubled(g):
    return g * 2

def halve_in_place(g):
    g.mul_(0.5)

def copied(g):
    return g.clone()

def look(g):
    print("look", g.shape)

def times_three(module, grad_input, grad_output):
    return tuple(g * 3 for g in grad_input)

def ones_out(module, grad_output):
    return (torch.ones_like(grad_output[0]),)

def scale_grad(p):
    p.grad.mul_(10)

net[0].weight.register_hook(doubled)
net[0].bias.register_hook(halve_in_place)
net[2].bias.register_hook(copied)
net[2].weight.register_hook(lambda g: None)
net[2].weight.register_post_accumulate_grad_hook(scale_grad)
net[1].register_full_backward_hook(times_three)
net[2].register_full_backward_pre_hook(ones_out)
h = net[0](x)
h.register_hook(look)
loss = net[2](net[1](h)).pow(2).mean()
loss.backward()
for name, p in net.named_parameters():
    print(name, p.grad)
"""


def test_every_kind_of_hook_before_and_after(run_script, tmp_path) -> None:
    script = write_script(tmp_path, KINDS)
    tl = run_script(script)
    assert stdout(tl) == python(script).stdout
    events = {e.hook: e for e in of_kind(tl, "hook")}
    assert set(events) == {"doubled", "halve_in_place", "copied", "<lambda>", "scale_grad", "times_three",
                           "ones_out", "look"}
    # Torch's own arithmetic, step by step, with the hooks applied by hand.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1))
    x = torch.randn(4, 3)
    h = net[0](x)
    t = net[1](h)
    out = net[2](t)
    (d_out,) = torch.autograd.grad(out.pow(2).mean(), out, retain_graph=True)
    ones = torch.ones_like(d_out)
    d_w2, d_b2, d_t = torch.autograd.grad(out, [net[2].weight, net[2].bias, t], grad_outputs=ones, retain_graph=True)
    (d_h,) = torch.autograd.grad(t, h, grad_outputs=d_t, retain_graph=True)
    d_w0, d_b0 = torch.autograd.grad(h, [net[0].weight, net[0].bias], grad_outputs=d_h * 3)

    def check(name: str, target: str, where: str, before: list[Any], after: list[Any], changed: bool) -> None:
        e = events[name]
        assert (e.target, e.where, e.changed) == (target, where, changed), name
        assert [flat(b) for b in e.before] == [values(b) for b in before], name
        assert [flat(a) for a in e.after] == [values(a) for a in after], name
        assert bool(e.notes) == changed, name

    check("ones_out", "net.2", "module_pre", [d_out], [ones], True)
    check("copied", "net.2.bias", "tensor", [d_b2], [d_b2], False)
    check("<lambda>", "net.2.weight", "tensor", [d_w2], [d_w2], False)
    check("scale_grad", "net.2.weight", "post_accumulate", [d_w2], [d_w2 * 10], True)
    check("times_three", "net.1", "module", [d_h], [d_h * 3], True)
    check("look", "h", "tensor", [d_h * 3], [d_h * 3], False)
    check("halve_in_place", "net.0.bias", "tensor", [d_b0], [d_b0 * 0.5], True)
    check("doubled", "net.0.weight", "tensor", [d_w0], [d_w0 * 2], True)
    assert events["times_three"].notes[0].startswith("hook times_three changed the gradients of the inputs of net.1 (")
    assert events["scale_grad"].notes[0].startswith(
        "hook scale_grad on net.2.weight changed net.2.weight.grad after backward() had written it (norm "
        f"{norm(d_w2)} → {norm(d_w2 * 10)})")
    (backward,) = of_kind(tl, "backward")
    assert flat(backward.grads["net.0.weight"].after) == values(d_w0 * 2)
    assert flat(backward.grads["net.2.weight"].after) == values(d_w2 * 10)


def test_node_runs_show_what_torch_passed_on_around_a_hook(run_script, tmp_path) -> None:
    """A tensor hook runs before the node it feeds: that node's grad_in is the hook's result,
    the node before it sent the gradient the hook was given; an AccumulateGrad received
    the gradient, not what a post-accumulate hook later made of .grad."""
    tl = run_script(write_script(tmp_path, KINDS))
    (backward,) = of_kind(tl, "backward")
    events = {e.hook: e for e in of_kind(tl, "hook")}
    runs = {run.id: run for run in backward.nodes}
    look = events["look"]  # on h, fed by AddmmBackward0 of net.0; it sends to the BackwardHook node of net.1
    node = runs[look.node]
    assert tl.graph[look.node].name == "AddmmBackward0"
    assert [flat(g) for g in node.grad_in] == [flat(a) for a in look.after]
    doubled = events["doubled"]
    accumulate = runs[doubled.node]
    assert tl.graph[doubled.node].name == "AccumulateGrad"
    assert [flat(g) for g in accumulate.grad_in] == [flat(a) for a in doubled.after]
    sender = next(r for r in backward.nodes if doubled.node in tl.graph[r.id].children)
    sent = sender.grad_out[tl.graph[sender.id].children.index(doubled.node)]
    assert flat(sent) == flat(doubled.before[0])
    scaled = events["scale_grad"]
    assert [flat(g) for g in runs[scaled.node].grad_in] == [flat(b) for b in scaled.before]
    # The order torch ran them in: a node's tensor hooks before it, a leaf's post-accumulate hook after.
    order = [e.hook for e in of_kind(tl, "hook")]
    assert order.index("ones_out") < order.index("<lambda>") < order.index("scale_grad") < order.index("times_three")
    assert order.index("times_three") < order.index("look") < order.index("doubled")


def test_remove_stops_recording_and_global_module_hooks(run_script, tmp_path) -> None:
    script = write_script(tmp_path, """
    import torch
    import torch.nn as nn
    from torch.nn.modules.module import register_module_full_backward_hook
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    handle = w.register_hook(lambda g: g + 1)
    (w * w).sum().backward()
    handle.remove()
    (w * w).sum().backward()
    print(w.grad)
    everywhere = register_module_full_backward_hook(lambda m, gi, go: None)
    net(torch.randn(3, 2, requires_grad=True)).sum().backward()
    everywhere.remove()
    net(torch.randn(3, 2, requires_grad=True)).sum().backward()
    """)
    tl = run_script(script)
    assert stdout(tl) == python(script).stdout == "tensor([5., 9.])\n"
    hooks = of_kind(tl, "hook")
    assert [(e.target, e.where, e.changed) for e in hooks] == [
        ("w", "tensor", True), ("net.1", "module", False), ("net.0", "module", False), ("net", "module", False)]
    assert flat(hooks[0].before[0]) == [2.0, 4.0] and flat(hooks[0].after[0]) == [3.0, 5.0]
    assert all(e.hook == "<lambda>" for e in hooks)


def test_hooks_in_autograd_grad_and_in_other_threads(run_script, tmp_path) -> None:
    script = write_script(tmp_path, """
    import threading
    import torch
    w = torch.tensor([1.0, -1.0], requires_grad=True)
    w.register_hook(lambda g: g * 10)
    g, = torch.autograd.grad((w * 3).sum(), w)
    print(g, w.grad)
    t = threading.Thread(target=lambda: (w * 2).sum().backward())
    t.start()
    t.join()
    print(w.grad)
    """)
    tl = run_script(script)
    assert stdout(tl) == python(script).stdout == "tensor([30., 30.]) None\ntensor([20., 20.])\n"
    (hook,) = of_kind(tl, "hook")  # the thread's backward ran the hook unrecorded
    assert flat(hook.before[0]) == [3.0, 3.0] and flat(hook.after[0]) == [30.0, 30.0]
    (grad,) = of_kind(tl, "grad")
    assert flat(grad.results[0]) == [30.0, 30.0] and hook.seq < grad.seq


def test_a_hooks_error_reaches_the_script_as_under_python(tmp_path) -> None:
    script = write_script(tmp_path, """
    import torch
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    w.register_hook(lambda g: g[:1])
    (w * w).sum().backward()
    """)
    r = gradtui("--record", tmp_path / "e.db", script)
    expected = python(script)
    assert r.returncode == expected.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == expected.stderr.strip().splitlines()[-1]


# ---------------------------------------------------------------------------- pausing mid-backward


def test_pausing_at_each_hook_inside_backward_and_stopping_there(tmp_path) -> None:
    script = write_script(tmp_path, """
    import torch
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    w.register_hook(lambda g: g * 2)
    for i in range(3):
        (w * w).sum().backward()
    print(w.grad)
    """)
    session = Session(load_script(str(script)), start_paused=True)
    session.start()
    kinds = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = session.next_report(5)
        if isinstance(report, Ended):
            break
        if session.paused_at is not None:
            kinds.append(session.paused_at.kind)
            session.next_event()
    assert session.join(10) and session.timeline.status == "finished"
    assert kinds == ["line", "hook", "backward", "hook", "backward", "hook", "backward"]
    assert stdout(session.timeline) == "tensor([12., 24.])\n"
    # Stopped while paused at a hook, deep inside torch's backward: the run ends, nothing hangs.
    session = Session(load_script(str(script)), start_paused=True)
    session.start()
    assert session.wait(30) and session.paused_at is not None and session.paused_at.kind == "line"
    session.next_event()
    assert session.wait(30) and session.paused_at is not None and session.paused_at.kind == "hook"
    session.stop()
    assert session.join(10)
    assert session.timeline.status == "interrupted"
