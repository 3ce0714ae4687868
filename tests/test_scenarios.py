"""Every tutorial scenario through the engine, checked against the tutorials' printed
numbers and against the same computation run directly with torch.

The expected values here never come from gradtui: they are the numbers printed in the
two tutorials (quoted per cell) or what torch computes when the test repeats the
scenario's arithmetic itself.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from gradtui.model import codec
from tests.conftest import REPO, SCENARIOS
from tests.helpers import flat, grad_changes, of_kind, seqs_ok, stderr, stdout


def f32(*values: float) -> list[float]:
    """Python floats as float32 would store them: what torch's .tolist() gives back."""
    return torch.tensor(values, dtype=torch.float32).tolist()


# ------------------------------------------------------------------ gradient tutorial


def test_accumulation_grads_add_up_until_zero_grad(run_script):
    tl = run_script(SCENARIOS / "accumulation.py")
    assert tl.status == "finished" and tl.exit_code == 0 and seqs_ok(tl)
    # Cells 35 and 38: 2, then 4, 6, 8 without zero_grad; cell 40: zero_grad -> None, then 2.
    assert grad_changes(tl, "backward", "theta") == [
        (None, [2.0]), ([2.0], [4.0]), ([4.0], [6.0]), ([6.0], [8.0]), (None, [2.0]), (None, [2.0]),
    ]
    assert grad_changes(tl, "zero_grad", "theta") == [([8.0], None), ([2.0], None)]
    assert [e.optimizer.cls for e in of_kind(tl, "zero_grad")] == ["SGD", "SGD"]
    assert {e.optimizer.name for e in of_kind(tl, "zero_grad")} == {"optimiser"}
    assert [e.loss for e in of_kind(tl, "backward")] == [1.0] * 6
    assert all(e.root == "loss" for e in of_kind(tl, "backward"))
    muls = [e for e in of_kind(tl, "op") if e.op == "mul"]
    assert muls and all(e.grad_fn == "MulBackward0" and e.args == ("theta", "theta") for e in muls)
    out = stdout(tl)
    for printed in (
        "After 1st loss.backward(): theta.grad=tensor([4.])",
        "After 2nd loss.backward(): theta.grad=tensor([6.])",
        "After 3rd loss.backward(): theta.grad=tensor([8.])",
        "After optimiser.zero_grad(): theta.grad=None",
        "After 2nd loss.backward(): theta.grad=tensor([2.])",
    ):
        assert printed in out
    assert not of_kind(tl, "step")


def test_plain_python_gradient_descent_needs_no_torch(run_script):
    tl = run_script(SCENARIOS / "gd_plain_python.py")
    assert tl.status == "finished"
    assert not of_kind(tl, "op") and not of_kind(tl, "backward")
    lines = stdout(tl).splitlines()
    # Cell 4: the first three and the last two printed values, digit for digit.
    thetas = [line for line in lines if line.startswith("𝜃:")]
    assert thetas[:3] == ["𝜃:  0.6", "𝜃:  0.36", "𝜃:  0.216"]
    assert thetas[-1] == "𝜃:  3.656158440062973e-05" and len(thetas) == 20
    assert lines[-1] == "𝜃 after optimization: 3.656158440062973e-05"
    # Line events follow the loop: the update line runs once per step.
    assert len(of_kind(tl, "line")) > 60


def test_parameter_operations_record_grad_fns(run_script):
    tl = run_script(SCENARIOS / "parameter_ops.py")
    ops = {e.op: e for e in of_kind(tl, "op")}
    p = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert ops["add"].grad_fn == "AddBackward0"  # cell 7
    assert ops["add"].output.values == (p + 5).tolist() == [[6.0, 7.0], [8.0, 9.0]]
    assert ops["exp"].grad_fn == "ExpBackward0"  # cell 8
    assert ops["exp"].output.values == torch.exp(p).tolist()
    assert ops["exp"].args == ("parameters",)


def test_first_backward(run_script):
    tl = run_script(SCENARIOS / "first_backward.py")
    assert grad_changes(tl, "backward", "theta") == [(None, [2.0])]  # cells 23-24
    assert stdout(tl).splitlines()[1:3] == ["None", "tensor([2.])"]


def test_autograd_gradient_descent_matches_tutorial_and_torch(run_script):
    tl = run_script(SCENARIOS / "autograd_gd.py")
    # Repeat the tutorial's loop with torch: theta <- theta - 0.2 * d(theta^2)/d(theta).
    theta = torch.tensor([1.0])
    expected = []
    for _ in range(10):
        theta = theta - 0.2 * (2 * theta)
        expected.append(theta.clone())
    backwards = of_kind(tl, "backward")
    # gradient_autograd is called twice per iteration (update, then print), then once more.
    assert len(backwards) == 21
    assert all(e.grads["tensor_with_grad"].before is None for e in backwards)
    printed_grads = [flat(e.grads["tensor_with_grad"].after)[0] for e in backwards[1:20:2]]
    assert printed_grads == [(2 * t).item() for t in expected]
    # Cell 33's printed values, to the four decimals the tutorial shows.
    shown = [round(t.item(), 4) for t in expected]
    assert shown == [0.6, 0.36, 0.216, 0.1296, 0.0778, 0.0467, 0.028, 0.0168, 0.0101, 0.006]
    assert "tensor([0.0060]) -- gd:  tensor([0.0121])" in stdout(tl)


def test_sgd_step_moves_theta_from_1_to_0_6(run_script):
    tl = run_script(SCENARIOS / "sgd_step.py")
    (step,) = of_kind(tl, "step")
    assert step.optimizer.cls == "SGD" and step.optimizer.name == "optimiser"
    assert flat(step.params["theta"].before) == [1.0]
    assert flat(step.params["theta"].after) == f32(0.6)  # cell 41
    hyper = step.hyperparams[0]
    assert hyper["lr"] == 0.2 and hyper["momentum"] == 0 and hyper["nesterov"] is False
    assert step.state == {}  # plain SGD keeps no momentum buffer


def _direct_run(make_opt, steps, closure_style=False):
    """The scenario's optimisation loop, run directly: parameter after every step."""
    tensor = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = make_opt([tensor])
    afters, states = [], []
    for _ in range(steps):
        if closure_style:
            def closure():
                opt.zero_grad()
                loss = torch.sum(tensor * tensor)
                loss.backward()
                return loss
            opt.step(closure)
        else:
            opt.zero_grad()
            torch.sum(tensor * tensor).backward()
            opt.step()
        afters.append(tensor.detach().tolist())
        states.append({k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in opt.state[tensor].items()})
    return afters, states


def test_sgd_loop_matches_tutorial_and_torch(run_script):
    tl = run_script(SCENARIOS / "sgd_loop.py")
    steps = of_kind(tl, "step")
    afters = [flat(s.params["tensor"].after) for s in steps]
    direct, _ = _direct_run(lambda ps: torch.optim.SGD(ps, lr=0.2), 10)
    assert afters == direct
    # Cell 42 prints 0.6000, 0.3600 ... 0.0060.
    assert [round(a[0], 4) for a in afters] == [0.6, 0.36, 0.216, 0.1296, 0.0778, 0.0467, 0.028, 0.0168, 0.0101,
                                                 0.006]
    assert all(a[1] == -a[0] for a in afters)
    # Every iteration: zero_grad, backward, step, in that order.
    kinds = [e.kind for e in tl.events if e.kind in ("zero_grad", "backward", "step")]
    assert kinds == ["zero_grad", "backward", "step"] * 10


@pytest.mark.parametrize(
    ("scenario", "make_opt", "state_keys"),
    [
        ("adam.py", lambda ps: torch.optim.Adam(ps, lr=0.1), {"step", "exp_avg", "exp_avg_sq"}),
        ("rmsprop.py", lambda ps: torch.optim.RMSprop(ps, lr=0.01), {"step", "square_avg"}),
    ],
)
def test_adaptive_optimizers_match_torch(run_script, scenario, make_opt, state_keys):
    tl = run_script(SCENARIOS / scenario)
    steps = of_kind(tl, "step")
    direct_afters, direct_states = _direct_run(make_opt, 10)
    assert [flat(s.params["tensor"].after) for s in steps] == direct_afters
    for step, expected in zip(steps, direct_states):
        state = step.state["tensor"]
        assert set(state) == state_keys
        for key, value in expected.items():
            got = state[key]
            assert (got.values if hasattr(got, "values") else got) == value, key
    assert [flat(s.params["tensor"].before) for s in steps[1:]] == direct_afters[:-1]


def test_lbfgs_closure_events_come_before_their_step(run_script):
    tl = run_script(SCENARIOS / "lbfgs.py")
    direct_afters, _ = _direct_run(lambda ps: torch.optim.LBFGS(ps, lr=1), 2, closure_style=True)
    steps = of_kind(tl, "step")
    assert [flat(s.params["tensor"].after) for s in steps] == direct_afters == [[0.0, 0.0], [0.0, 0.0]]
    kinds = [e.kind for e in tl.events if e.kind in ("zero_grad", "backward", "step")]
    # Step 1 calls the closure 3 times, step 2 once; each closure is zero_grad + backward.
    assert kinds == ["zero_grad", "backward"] * 3 + ["step"] + ["zero_grad", "backward", "step"]
    first_grads = [flat(e.grads["tensor"].after) for e in of_kind(tl, "backward")]
    assert first_grads[0] == [2.0, -2.0]  # d/dx sum(x^2) at [1, -1]
    # LBFGS state as torch keeps it: numbers equal, history lists counted.
    tensor = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    lbfgs = torch.optim.LBFGS([tensor], lr=1)

    def closure():
        lbfgs.zero_grad()
        loss = torch.sum(tensor * tensor)
        loss.backward()
        return loss

    lbfgs.step(closure)
    direct = lbfgs.state[tensor]
    recorded = steps[0].state["tensor"]
    assert recorded["func_evals"] == direct["func_evals"] == 3 and recorded["n_iter"] == direct["n_iter"]
    assert recorded["len(old_dirs)"] == len(direct["old_dirs"])
    assert flat(recorded["d"]) == direct["d"].tolist()


# ------------------------------------------------------------------ tensor-gradients tutorial


def test_requires_grad_on_and_off(run_script):
    tl = run_script(SCENARIOS / "requires_grad.py")
    ones = [e for e in of_kind(tl, "op") if e.op == "ones"]
    assert [e.output.requires_grad for e in ones] == [False, True]  # cell 2
    assert all(e.output.values == [[1.0, 1.0], [1.0, 1.0]] for e in ones)
    assert stdout(tl).split("\n").count("False") == 1 and "True" in stdout(tl)


def test_mean_chain_gives_4_5_and_the_grad_fn_chain(run_script):
    tl = run_script(SCENARIOS / "mean_chain.py")
    (bw,) = of_kind(tl, "backward")
    assert bw.root == "out" and bw.loss == 27.0  # cell 3: tensor(27.)
    assert flat(bw.grads["x"].after) == [4.5] * 4
    assert list(bw.grads) == ["x"]  # only the leaf; y and z are not leaves
    by_line = {}
    for e in of_kind(tl, "op"):
        by_line.setdefault(e.line, []).append(e)
    chain = [ops[-1].grad_fn for _, ops in sorted(by_line.items()) if ops[-1].grad_fn]
    assert chain == ["AddBackward0", "MulBackward0", "MeanBackward0"]
    # Cell 4: y.grad is None, and torch warns about reading .grad of a non-leaf at the script's line.
    assert "y.grad: None" in stdout(tl)


def test_non_leaf_grad_warning_is_output_at_the_scripts_line(tmp_path):
    # In a subprocess: pytest captures warnings itself, a user's terminal does not.
    out = tmp_path / "t.json"
    subprocess.run([sys.executable, "-m", "gradtui", "--record", str(out), str(SCENARIOS / "mean_chain.py")],
                   check=True, capture_output=True, timeout=120)
    tl = codec.load(out)
    warnings = stderr(tl)
    assert "mean_chain.py:" in warnings and "not a leaf Tensor" in warnings
    assert "gradtui" not in warnings
    warned = [e for e in of_kind(tl, "output") if e.stream == "stderr"]
    assert len(warned) == 2 and warned[0].line != warned[1].line


def test_no_grad_and_detach(run_script):
    tl = run_script(SCENARIOS / "no_grad_detach.py")
    pows = [e for e in of_kind(tl, "op") if e.op == "pow"]
    assert [(e.grad_enabled, e.grad_fn, e.output.requires_grad) for e in pows] == [
        (True, "PowBackward0", True),
        (False, None, False),  # cell 5: inside torch.no_grad()
    ]
    (detach,) = [e for e in of_kind(tl, "op") if e.op == "detach"]
    assert detach.output.requires_grad is False and detach.grad_fn is None
    torch.manual_seed(0)
    assert detach.output.values == torch.randn(3).tolist()
    assert stdout(tl).split() == ["True", "True", "False", "True", "False", "tensor(True)"]


def test_manual_update_step(run_script):
    tl = run_script(SCENARIOS / "manual_update.py")
    torch.manual_seed(0)
    x = torch.randn(1, requires_grad=True)
    ((x - 4) ** 2).backward()
    expected_new = (x.detach() - 0.1 * x.grad).tolist()
    (bw,) = of_kind(tl, "backward")
    assert flat(bw.grads["x"].after) == x.grad.tolist()
    assert math.isclose(x.grad.item(), 2 * (x.item() - 4), rel_tol=1e-6)
    subs = [e for e in of_kind(tl, "op") if e.op == "sub"]
    # (x - 4) with grad, x - lr*grad printed with grad (SubBackward0), then under no_grad.
    assert [(e.grad_enabled, e.grad_fn) for e in subs] == [(True, "SubBackward0"), (True, "SubBackward0"),
                                                           (False, None)]
    assert subs[-1].output.values == expected_new
    assert subs[-1].args[0] == "x"


def test_converges_to_four(run_script):
    tl = run_script(SCENARIOS / "converge.py")
    torch.manual_seed(0)
    x = torch.randn(1, requires_grad=True)
    iterations = 0
    for _ in range(100):
        iterations += 1
        y = (x - 4) ** 2
        y.backward()
        with torch.no_grad():
            prev, x = x, x - 0.1 * x.grad
            if torch.norm(prev - x) < 1e-6:
                break
        x.requires_grad = True
    backwards = of_kind(tl, "backward")
    assert len(backwards) == iterations
    # x is rebound every iteration, so each backward starts from x.grad None.
    assert all(e.grads["x"].before is None for e in backwards)
    assert stdout(tl).rstrip().endswith("Soln x: tensor([4.0000])")  # cell 8
    assert round(x.item(), 4) == 4.0


def _torch_graph_names(fn) -> list[str]:  # type: ignore[no-untyped-def]
    """Node names under ``fn`` depth-first in next_functions order, each node once (torch directly)."""
    seen, order, stack = set(), [], [fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        order.append(type(node).__name__)
        stack.extend(reversed([child for child, _ in node.next_functions]))
    return order


def test_mean_chain_graph_table_matches_torchs_graph(run_script):
    from gradtui.model.graph import parent_counts, reachable

    tl = run_script(SCENARIOS / "mean_chain.py")
    (bw,) = of_kind(tl, "backward")
    order = reachable(tl.graph, bw.graph)
    # The same computation in torch directly: out = (3 * (x + 2) ** 2).mean().
    x = torch.ones(2, 2, requires_grad=True)
    out = (3 * ((x + 2) ** 2)).mean()
    assert [tl.graph[i].name for i in order] == _torch_graph_names(out.grad_fn)
    assert [tl.graph[i].name for i in order][:2] == ["MeanBackward0", "MulBackward0"]
    leaves = [tl.graph[i] for i in order if tl.graph[i].name == "AccumulateGrad"]
    assert [leaf.variable for leaf in leaves] == ["x"]
    ops = {e.op: e for e in of_kind(tl, "op")}
    assert tl.graph[ops["add"].graph].name == "AddBackward0"
    assert tl.graph[ops["mean"].graph].name == "MeanBackward0"
    assert max(parent_counts(tl.graph, bw.graph).values()) == 1  # a chain: no node is shared


def test_accumulation_graph_shares_theta(run_script):
    from gradtui.model.graph import parent_counts

    tl = run_script(SCENARIOS / "accumulation.py")
    for bw in of_kind(tl, "backward"):
        root = tl.graph[bw.graph]
        assert root.name == "MulBackward0" and len(root.children) == 2
        assert root.children[0] == root.children[1]  # theta * theta: one AccumulateGrad, fed twice
        assert tl.graph[root.children[0]].variable == "theta"
        assert parent_counts(tl.graph, bw.graph)[root.children[0]] == 2


def _recording_hook(runs: list, name: str):  # type: ignore[no-untyped-def]
    def as_list(gs):  # type: ignore[no-untyped-def]
        return [None if g is None else g.tolist() for g in gs]

    def hook(grad_inputs, grad_outputs):  # type: ignore[no-untyped-def]
        runs.append((name, as_list(grad_outputs), as_list(grad_inputs)))

    return hook


def _direct_node_runs(root) -> list[tuple[str, list, list]]:  # type: ignore[no-untyped-def]
    """Run backward from ``root`` with a hook on every node, in torch directly."""
    runs: list[tuple[str, list, list]] = []
    seen, stack, handles = set(), [root.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        handles.append(node.register_hook(_recording_hook(runs, type(node).__name__)))
        stack.extend(child for child, _ in node.next_functions)
    root.backward()
    for h in handles:
        h.remove()
    return runs


def _recorded_runs(event) -> list[tuple[str, list, list]]:  # type: ignore[no-untyped-def]
    def as_list(gs):  # type: ignore[no-untyped-def]
        return [None if g is None else g.values for g in gs]

    return [(n.name, as_list(n.grad_in), as_list(n.grad_out)) for n in event.nodes]


def test_backward_node_by_node_matches_torchs_hooks_on_the_mean_chain(run_script):
    tl = run_script(SCENARIOS / "mean_chain.py")
    (bw,) = of_kind(tl, "backward")
    x = torch.ones(2, 2, requires_grad=True)
    out = (3 * ((x + 2) ** 2)).mean()
    assert _recorded_runs(bw) == _direct_node_runs(out)
    first, last = bw.nodes[0], bw.nodes[-1]
    # The tutorial: 1 enters MeanBackward0, 0.25 flows out to each element, 4.5 reaches x.
    assert first.name == "MeanBackward0" and first.grad_in[0].values == 1.0
    assert first.grad_out[0].values == [[0.25, 0.25], [0.25, 0.25]]
    assert last.name == "AccumulateGrad" and last.grad_in[0].values == [[4.5, 4.5], [4.5, 4.5]]
    assert tl.graph[last.id].variable == "x"


def test_backward_node_by_node_matches_torchs_hooks_in_an_mlp(run_script):
    tl = run_script(REPO / "tests" / "scripts" / "mlp_adam.py")
    first = of_kind(tl, "backward")[0]
    names = [n.name for n in first.nodes]
    assert names[0].startswith("MseLossBackward") and names.count("AccumulateGrad") == len(first.grads)
    for run in first.nodes:
        assert tl.graph[run.id].name == run.name
