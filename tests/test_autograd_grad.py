"""``torch.autograd.grad`` and ``backward(inputs=...)`` recorded as what they are.

The expected values come from torch run directly on the same seeded code in this process
(the WGAN-GP corpus script run by ``runpy`` with torch's own functions watched, or the
small scripts' numbers recomputed here), and from what ``python SCRIPT`` prints.
"""

from __future__ import annotations

import contextlib
import io
import runpy
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from gradtui.model.events import BackwardDone, GradComputed
from gradtui.model.sentences import describe
from tests.conftest import SCRIPTS
from tests.helpers import close, flat, of_kind, stdout
from tests.helpers import plain_python as python
from tests.helpers import tensor_values as values
from tests.recording_tools import gradtui

GAN = SCRIPTS / "real" / "gan_gradient_penalty.py"


def torch_run_of_gan(monkeypatch: pytest.MonkeyPatch) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """The GAN script under plain torch: what each autograd.grad returned, the critic's grads after each backward."""
    results: list[torch.Tensor] = []
    grads: list[dict[str, torch.Tensor]] = []
    grad, backward = torch.autograd.grad, torch.Tensor.backward

    def watched_grad(*args: Any, **kwargs: Any) -> Any:
        out = grad(*args, **kwargs)
        results.append(out[0].detach().clone())
        return out

    def watched_backward(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        out = backward(self, *args, **kwargs)
        critic = sys._getframe(1).f_globals["critic"]
        grads.append({f"critic.{n}": p.grad.clone() for n, p in critic.named_parameters() if p.grad is not None})
        return out

    monkeypatch.setattr(torch.autograd, "grad", watched_grad)
    monkeypatch.setattr(torch.Tensor, "backward", watched_backward)
    runpy.run_path(str(GAN), run_name="__main__")
    return results, grads


def test_the_gan_runs_as_under_python_and_each_penalty_grad_and_backward_equal_torch(
        run_script: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = python(GAN)
    tl = run_script(GAN)
    assert tl.status == "finished" and tl.exit_code == plain.returncode == 0
    assert stdout(tl) == plain.stdout
    assert plain.stdout.count("penalty") == 10
    expected_results, expected_grads = torch_run_of_gan(monkeypatch)
    events: list[GradComputed] = of_kind(tl, "grad")
    assert len(events) == len(expected_results) == 10
    for event, expected in zip(events, expected_results):
        assert event.outputs == ("score",) and event.inputs == ("mixed",)
        assert event.grad_outputs == ("ones_like(score)",)  # torch.ones_like(score), written in the call
        assert event.create_graph and event.retain_graph and not event.allow_unused
        assert close(flat(event.results[0]), values(expected))
        assert event.graph is not None and tl.graph[event.graph].name == "AddmmBackward0"
        # create_graph: the result is differentiable, its own node is in the graph table.
        (result_node,) = event.result_graphs
        assert result_node is not None and result_node in tl.graph
        # Node hooks fire for autograd.grad; AccumulateGrad never does (nothing is accumulated).
        names = [run.name for run in event.nodes]
        assert "AddmmBackward0" in names and "TanhBackward0" in names and "AccumulateGrad" not in names
    # A gradient penalty takes gradients as values on purpose: no note (the status line says .grad is untouched).
    assert not any(e.notes for e in events)
    backwards: list[BackwardDone] = of_kind(tl, "backward")
    assert len(backwards) == len(expected_grads) == 20
    for i, (event, expected) in enumerate(zip(backwards, expected_grads)):
        critic_names = {name for name in event.grads if name.startswith("critic.")}
        if i % 2:  # the generator's backward: the critic's parameters were frozen
            assert not critic_names
            continue
        assert critic_names == set(expected) and len(expected) == 4
        for name, grad in expected.items():
            assert close(flat(event.grads[name].after), values(grad)), name


def test_cli_record_runs_the_gan_as_under_python(tmp_path: Path) -> None:
    plain = python(GAN)
    recorded = gradtui("--record", tmp_path / "gan.db", GAN)
    assert recorded.returncode == plain.returncode == 0, recorded.stderr
    assert recorded.stdout == plain.stdout


def test_trace_says_what_grad_returned(tmp_path: Path) -> None:
    script = write(tmp_path, """
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        x = torch.tensor([3.0, 4.0])
        loss = (w * x).sum()
        (g,) = torch.autograd.grad(loss, w, create_graph=True)
        print(g.tolist())
    """)
    trace = gradtui("--trace", script)
    assert trace.returncode == 0, trace.stderr
    (line,) = [line for line in trace.stdout.splitlines() if " grad " in line]
    assert "d(loss)/dw = [3, 4]" in line and "create_graph" in line and "retain_graph" in line
    assert "⚠" not in trace.stdout  # create_graph: the gradient is wanted as a value


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text("import torch\ntorch.manual_seed(0)\n" + textwrap.dedent(body))
    return path


def test_allow_unused_and_grad_outputs_and_an_untouched_grad(tmp_path: Path, run_script: Any) -> None:
    script = write(tmp_path, """
        w = torch.randn(3, requires_grad=True)
        unused = torch.randn(2, requires_grad=True)
        y = w * w
        v = torch.tensor([1.0, 2.0, 3.0])
        gw, gu = torch.autograd.grad(outputs=[y], inputs=[w, unused], grad_outputs=[v], allow_unused=True)
        print(gw.tolist(), gu, w.grad)
    """)
    plain = python(script)
    tl = run_script(script)
    assert stdout(tl) == plain.stdout and tl.exit_code == plain.returncode == 0
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    expected = torch.tensor([1.0, 2.0, 3.0]) * 2 * w.detach()
    (event,) = of_kind(tl, "grad")
    assert event.inputs == ("w", "unused") and event.outputs == ("y",) and event.grad_outputs == ("v",)
    assert event.allow_unused and not event.create_graph and not event.retain_graph
    assert close(flat(event.results[0]), values(expected)) and event.results[1] is None
    assert event.result_graphs == ()
    mul = [run for run in event.nodes if run.name == "MulBackward0"]
    assert len(mul) == 1 and close(flat(mul[0].grad_in[0]), [1.0, 2.0, 3.0])
    assert not of_kind(tl, "backward")


def test_a_second_grad_on_a_freed_graph_raises_as_under_python(tmp_path: Path, run_script: Any) -> None:
    script = write(tmp_path, """
        w = torch.randn(3, requires_grad=True)
        loss = (w.exp() * w).sum()
        (g,) = torch.autograd.grad(loss, w)
        print(g.tolist())
        try:
            torch.autograd.grad(loss, w)
        except RuntimeError as error:
            print("caught:", error)
        torch.autograd.grad(loss, w)
    """)
    plain = python(script)
    tl = run_script(script)
    assert plain.returncode == 1 and "caught: Trying to backward through the graph a second time" in plain.stdout
    assert stdout(tl) == plain.stdout and tl.exit_code == plain.returncode and tl.status == "error"
    assert "Trying to backward through the graph a second time" in (tl.error.message if tl.error else "")
    (event,) = of_kind(tl, "grad")  # the failing calls record nothing
    assert not event.retain_graph and not event.create_graph
    torch.manual_seed(0)
    w = torch.randn(3)
    assert close(flat(event.results[0]), values(w.exp() * (1 + w)))


def test_backward_with_inputs_names_them_and_writes_only_their_grads(tmp_path: Path, run_script: Any) -> None:
    script = write(tmp_path, """
        w1 = torch.randn(2, requires_grad=True)
        w2 = torch.randn(2, requires_grad=True)
        loss = (w1 * w2).sum() + w1.pow(2).sum()
        loss.backward(inputs=[w1])
        print(w1.grad.tolist(), w2.grad)
    """)
    plain = python(script)
    tl = run_script(script)
    assert stdout(tl) == plain.stdout and tl.exit_code == plain.returncode == 0
    torch.manual_seed(0)
    w1, w2 = torch.randn(2), torch.randn(2)
    (event,) = of_kind(tl, "backward")
    assert event.inputs == ("w1",) and set(event.grads) == {"w1"}
    assert close(flat(event.grads["w1"].after), values(w2 + 2 * w1))


def test_a_plain_backward_names_no_inputs(tmp_path: Path, run_script: Any) -> None:
    script = write(tmp_path, """
        w = torch.randn(2, requires_grad=True)
        (w * w).sum().backward()
    """)
    (event,) = of_kind(run_script(script), "backward")
    assert event.inputs == ()


# ---------------------------------------------------------------------------- more spellings and rules


def write_script(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def exact(t: torch.Tensor | None) -> list[float] | None:
    return None if t is None else t.detach().reshape(-1).tolist()


SMALL = """
import torch
w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
u = torch.tensor([0.5, 0.5, 0.5], requires_grad=True)
x = torch.tensor([2.0, 0.5, -1.0])
y = (w * x).pow(2)
v = torch.tensor([1.0, 10.0, 100.0])
g_w, g_u = torch.autograd.grad(outputs=[y], inputs=(w, u), grad_outputs=[v], allow_unused=True, retain_graph=True)
print(g_w, g_u, w.grad)
zeros = torch.autograd.grad(y.sum(), [u, w], materialize_grads=True, retain_graph=True)
print(zeros)
only = torch.autograd.grad(y.sum(), w)
print(only)
"""


def direct(source: str) -> dict[str, Any]:
    """The script run here by torch, as plain python runs it; its variables."""
    with contextlib.redirect_stdout(io.StringIO()):
        namespace: dict[str, Any] = {}
        exec(compile(textwrap.dedent(source), "<direct>", "exec"), namespace)
    return namespace


def test_keywords_sequences_allow_unused_materialize_and_grad_outputs(run_script, tmp_path) -> None:
    script = write_script(tmp_path, SMALL)
    tl = run_script(script)
    assert stdout(tl) == python(script).stdout
    ns = direct(SMALL)
    first, second, third = of_kind(tl, "grad")
    assert first.outputs == ("y",) and first.inputs == ("w", "u") and first.grad_outputs == ("v",)
    assert first.allow_unused and first.retain_graph and not first.create_graph
    assert [flat(r) for r in first.results] == [exact(ns["g_w"]), None]
    assert first.result_graphs == ()
    # materialize_grads: zeros for the unused input, and allow_unused as torch resolves it.
    assert second.inputs == ("u", "w") and second.allow_unused and second.grad_outputs == ()
    assert [flat(r) for r in second.results] == [exact(t) for t in ns["zeros"]]
    assert flat(second.results[0]) == [0.0] * 3
    assert third.inputs == ("w",) and not third.retain_graph and not third.allow_unused
    assert [flat(r) for r in third.results] == [exact(ns["only"][0])]
    assert not of_kind(tl, "backward")


def test_the_nodes_are_the_ones_torch_runs(run_script, tmp_path) -> None:
    """``nodes`` for autograd.grad: what torch's own node hooks see, in torch's order."""
    source = """
    import torch
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([0.5, -0.5], requires_grad=True)
    h = (w * 3 + b).tanh()
    loss = h.sum()
    g, = torch.autograd.grad(loss, w)
    """
    tl = run_script(write_script(tmp_path, source))
    event: GradComputed = of_kind(tl, "grad")[0]
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([0.5, -0.5], requires_grad=True)
    loss = (w * 3 + b).tanh().sum()
    seen: list[tuple[str, list[Any], list[Any]]] = []
    stack, nodes = [loss.grad_fn], []
    while stack:
        node = stack.pop()
        if node is not None and node not in nodes:
            nodes.append(node)
            stack.extend(n for n, _ in node.next_functions)
    def watch(name: str) -> Any:
        return lambda gi, go: seen.append((name, [exact(t) for t in go], [exact(t) for t in gi]))

    for node in nodes:
        node.register_hook(watch(type(node).__name__))
    (expected,) = torch.autograd.grad(loss, w)
    assert [(r.name, [flat(t) for t in r.grad_in], [flat(t) for t in r.grad_out]) for r in event.nodes] == seen
    assert [r.name for r in event.nodes] == ["SumBackward0", "TanhBackward0", "AddBackward0", "MulBackward0"]
    assert flat(event.results[0]) == exact(expected)
    assert describe(tl.events, event.seq).startswith("autograd.grad of loss: dw = ")


def test_the_note_is_for_a_first_call_that_replaces_backward(run_script, tmp_path) -> None:
    """Said once, on a first autograd.grad without create_graph before any backward (.grad was expected)."""
    script = write_script(tmp_path, """
    import torch
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    for i in range(3):
        loss = (w * w).sum()
        g, = torch.autograd.grad(loss, w)
        opt.step()
    print(w.grad, w)
    """)
    tl = run_script(script)
    assert stdout(tl) == python(script).stdout
    notes = [e.notes for e in of_kind(tl, "grad")]
    assert notes[1:] == [(), ()]
    assert notes[0] == ("torch.autograd.grad returned the gradient of loss with respect to w and wrote no .grad "
                        "(w.grad is None): unlike backward(), it only returns gradients, so an optimizer's step() "
                        "sees them only if the script assigns them (w.grad = ...) or calls backward().",)
    penalty = write_script(tmp_path, """
    import torch
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    g, = torch.autograd.grad((w ** 3).sum(), w, create_graph=True)
    (g.norm() - 1).pow(2).backward()
    """, "penalty.py")
    assert not any(e.notes for e in run_script(penalty).events)


def test_library_calls_inside_torch_are_not_the_scripts(run_script, tmp_path) -> None:
    script = write_script(tmp_path, """
    import torch
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    jac = torch.autograd.functional.jacobian(lambda t: t ** 2, w)
    print(jac)
    """)
    tl = run_script(script)
    assert stdout(tl) == python(script).stdout
    assert of_kind(tl, "grad") == []


def test_batched_grad_outputs(run_script, tmp_path) -> None:
    source = """
    import torch
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.exp()
    eye = torch.eye(3)
    jac, = torch.autograd.grad(y, x, grad_outputs=eye, is_grads_batched=True)
    print(jac)
    """
    script = write_script(tmp_path, source)
    tl = run_script(script)
    assert stdout(tl) == python(script).stdout
    (event,) = of_kind(tl, "grad")
    assert flat(event.results[0]) == exact(direct(source)["jac"])
    assert event.grad_outputs == ("eye",) and event.nodes == ()


def test_autograd_backward_with_one_tensor_as_inputs(tmp_path: Path, run_script: Any) -> None:
    script = write(tmp_path, """
        a = torch.tensor([1.0, 2.0], requires_grad=True)
        b = torch.tensor([3.0, -1.0], requires_grad=True)
        loss = (a * b).sum() + b.pow(2).sum()
        torch.autograd.backward(loss, inputs=a)
        print(a.grad, b.grad)
    """)
    tl = run_script(script)
    assert stdout(tl) == python(script).stdout
    (event,) = of_kind(tl, "backward")
    assert event.inputs == ("a",) and list(event.grads) == ["a"]
    assert flat(event.grads["a"].after) == [3.0, -1.0]  # d/da of a·b is b
