"""The two seed tutorials as notebooks (``scenarios/notebooks/``) print the tutorials' own numbers.

The truth is what the two seed notebooks ("Pytorch basics: Gradient" and "Tutorial 2:
Tensor Gradients and Optimization") printed, written below as literals, and torch itself
for the cells this copy seeds with ``torch.manual_seed(0)`` (the seeds drew other random
numbers). The notebooks are run as a learner runs them, by Jupyter's own machinery:
nbclient in a fresh ipykernel, skipped where either is missing. The committed files must
equal ``build.py``'s cells and carry the outputs a fresh run gives, so they never go
stale; gradtui must run them to the same output.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
import torch

from tests.helpers import grad_changes, stdout

NOTEBOOKS = Path(__file__).resolve().parent.parent / "scenarios" / "notebooks"
BASICS = NOTEBOOKS / "gradient_basics.ipynb"
TENSORS = NOTEBOOKS / "tensor_gradients.ipynb"

# torch prints 4 decimals; one float32 ulp can move the last one (the seed's exp(4) printed
# 54.5982, torch 2.13's exp gives 54.598148 and prints 54.5981).
FOUR_PLACES = 1.5e-4


def load_build() -> ModuleType:
    """``scenarios/notebooks/build.py`` as a module (scenarios/ is no package)."""
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fresh: dict[Path, Any] = {}


def fresh_run(path: Path) -> Any:
    """``path`` with its outputs cleared, run top to bottom in a new kernel (once per file and session)."""
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install nbclient ipykernel)")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install nbclient ipykernel)")
    if path not in _fresh:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", record_timing=False,
                                         resources={"metadata": {"path": str(path.parent)}})
        # As build.py executes them: torch's warning about a missing numpy is the machine's, not the lesson's.
        client.execute(env={**os.environ, "PYTHONWARNINGS": load_build().ENVIRONMENT_WARNINGS})
        _fresh[path] = nb
    return _fresh[path]


@dataclass(frozen=True, slots=True)
class Shown:
    """What one code cell showed: its printed text, its warnings, its ``Out[n]``."""

    stdout: str
    stderr: str
    result: str | None


def shown(nb: Any, snippet: str) -> Shown:
    """The output of the code cell whose source is ``snippet``, or else the one cell that contains it."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    cells = [c for c in code if c.source == snippet] or [c for c in code if snippet in c.source]
    assert len(cells) == 1, f"{len(cells)} code cells contain {snippet!r}"
    return shown_by(cells[0])


def shown_by(cell: Any) -> Shown:
    """What ``cell`` showed; it must not have raised (no seed cell does)."""
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    results = [o.data["text/plain"] for o in cell.outputs if o.output_type == "execute_result"]
    streams = [o for o in cell.outputs if o.output_type == "stream"]
    return Shown("".join(o.text for o in streams if o.name == "stdout"),
                 "".join(o.text for o in streams if o.name == "stderr"),
                 results[0] if results else None)


def tensors(text: str) -> list[list[float]]:
    """The values of every ``tensor(...)`` printed in ``text``, flattened, in order."""
    found = []
    for inside in re.findall(r"tensor\(([^)]*)\)", text):
        values = re.split(r",\s*\w+=", inside)[0]  # drop requires_grad=…, grad_fn=<…>
        found.append([float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", values)])
    return found


def hyperparameters(text: str) -> dict[str, str]:
    """An optimizer's repr as ``{name: value}``, one entry per ``    name: value`` line."""
    return dict(re.findall(r"^ {4}(\w+): (.*)$", text, flags=re.MULTILINE))


def approx(values: list[list[float]]) -> Any:
    return [pytest.approx(v, abs=FOUR_PLACES) for v in values]


# --- the files ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BASICS, TENSORS], ids=lambda p: p.stem)
def test_the_files_are_valid_notebooks_written_from_build_py(path: Path) -> None:
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3" and nb.metadata.language_info.name == "python"
    cells = load_build().NOTEBOOKS[path.name]
    assert [(c.cell_type, c.source) for c in nb.cells] == [tuple(c) for c in cells]
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "run it with Restart and run all (build.py --execute)"
    assert not any("<img" in c.source for c in nb.cells), "no image that needs the internet"
    for cell in (c for c in nb.cells if "randn" in c.source):  # the same numbers on every run
        assert 0 <= cell.source.find("torch.manual_seed(0)\n") < cell.source.find("randn")


def _comparable(nb: Any) -> list[tuple[Any, ...]]:
    """Each code cell's count and outputs, without what differs between any two runs."""

    def steady(text: str) -> str:
        text = re.sub(r"0x[0-9a-fA-F]+", "0x…", text)  # <AddBackward0 object at 0x7f…>
        return re.sub(r"\S*ipykernel_\d+[\\/]\d+\.py", "<cell>", text)  # the kernel's file of the cell

    rows = []
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        streams: dict[str, str] = {}  # how output splits into stream messages is timing
        shown_: list[tuple[str, ...]] = []
        for out in cell.outputs:
            if out.output_type == "stream":
                streams[out.name] = streams.get(out.name, "") + steady(out.text)
            elif out.output_type == "error":
                shown_.append(("error", out.ename, steady(out.evalue)))
            else:
                shown_.append((out.output_type, steady(out.data.get("text/plain", ""))))
        rows.append((cell.execution_count, sorted(streams.items()), shown_))
    return rows


@pytest.mark.parametrize("path", [BASICS, TENSORS], ids=lambda p: p.stem)
def test_the_stored_outputs_are_those_of_a_fresh_run(path: Path) -> None:
    stored = nbformat.read(path, as_version=4)
    assert _comparable(stored) == _comparable(fresh_run(path)), "stale outputs: run build.py --execute"


# --- Pytorch basics: Gradient ---------------------------------------------------------

# The 20 values of theta the seed's In [4] printed: plain python, so equal to the last bit.
SEED_THETAS = [0.6, 0.36, 0.216, 0.1296, 0.07776, 0.046655999999999996, 0.027993599999999997,
               0.016796159999999997, 0.010077695999999997, 0.006046617599999998, 0.003627970559999999,
               0.002176782335999999, 0.0013060694015999993, 0.0007836416409599996, 0.00047018498457599973,
               0.00028211099074559984, 0.00016926659444735988, 0.00010155995666841592, 6.093597400104955e-05,
               3.656158440062973e-05]
SEED_GD_THETAS = [0.6, 0.36, 0.216, 0.1296, 0.0778, 0.0467, 0.0280, 0.0168, 0.0101, 0.0060]
SEED_GD_GRADS = [1.2, 0.72, 0.432, 0.2592, 0.1555, 0.0933, 0.0560, 0.0336, 0.0202, 0.0121]


def test_gradient_descent_by_hand_prints_the_tutorials_thetas() -> None:
    nb = fresh_run(BASICS)
    assert shown(nb, "one_step_gradient_descent(1, 0.2)").result == "0.6"
    printed = shown(nb, "theta_opt = gradient_descent(").stdout
    assert [float(v) for v in re.findall(r"^𝜃:  (\S+)$", printed, flags=re.MULTILINE)] == SEED_THETAS
    assert printed.endswith("𝜃 after optimization: 3.656158440062973e-05\n")


def test_parameters_remember_their_operations() -> None:
    nb = fresh_run(BASICS)
    parameters = shown(nb, "parameters = torch.nn.Parameter(tensor)").stdout
    assert parameters.startswith("Parameter containing:") and "requires_grad=True" in parameters
    assert tensors(parameters) == [[1, 2, 3, 4]]
    plus = shown(nb, "temp = parameters + 5").stdout
    assert tensors(plus) == [[6, 7, 8, 9]] and "grad_fn=<AddBackward0>" in plus
    exp = shown(nb, "temp = torch.exp(parameters)").stdout
    assert tensors(exp) == approx([[2.7183, 7.3891, 20.0855, 54.5982]]) and "grad_fn=<ExpBackward0>" in exp
    loss = shown(nb, "t0 = torch.Tensor([1])").stdout
    assert tensors(loss) == [[1]] and "grad_fn=<MulBackward0>" in loss
    assert shown(nb, "print(theta.grad)").stdout == "None\n"  # In [23]: nothing asked for a gradient yet
    assert tensors(shown(nb, "loss = theta * theta\nloss.backward()\nprint(theta.grad)").stdout) == [[2]]


def test_autograd_gradient_descent_prints_the_tutorials_steps() -> None:
    nb = fresh_run(BASICS)
    steps = shown(nb, "gd_torch_autograd(initial_theta, lr=0.2, steps=10)")
    pairs = [[value] for theta_grad in zip(SEED_GD_THETAS, SEED_GD_GRADS) for value in theta_grad]
    assert tensors(steps.stdout) == approx(pairs)  # tensor([0.6000]) -- gd:  tensor([1.2000]) …
    assert steps.result is not None and tensors(steps.result) == approx([[0.0060]])
    again = shown(nb, "gradient_autograd(initial_theta)")
    assert again.result is not None and tensors(again.result) == [[2]]


def test_gradients_accumulate_until_zero_grad_and_step_moves_theta() -> None:
    nb = fresh_run(BASICS)
    fresh = shown(nb, "t = torch.Tensor([1])").stdout
    assert fresh.splitlines()[0] == "None" and tensors(fresh) == [[2]]
    assert tensors(shown(nb, "print(theta)").stdout) == [[1]]
    accumulated = shown(nb, 'After 3rd loss.backward()').stdout
    assert tensors(accumulated) == [[4], [6], [8]]  # the seed's In [38]: 2 from In [35] kept growing
    reset = shown(nb, "# zero_grad() : reset to 0").stdout
    assert re.findall(r"theta\.grad=(\S+)", reset) == ["tensor([2.])", "None", "tensor([2.])"]
    step = shown(nb, "# step() : performs one optimisation step").stdout
    assert tensors(step) == approx([[1], [0.6]])
    descent = shown(nb, "gd_with_optimizer(initial_tensor, lr=0.2, steps=10)")
    assert tensors(descent.stdout) == approx([[v, -v] for v in SEED_GD_THETAS])
    assert descent.result is not None and tensors(descent.result) == approx([[0.0060, -0.0060]])


# The hyperparameters the seed's optimizer reprs printed (torch 2.13 adds fields, e.g. Adam's
# decoupled_weight_decay: the seed's own must be there, with the seed's values).
SEED_OPTIMIZERS = {
    "optimizer = torch.optim.SGD(params=list_parameters": (
        "SGD", {"dampening": "0", "differentiable": "False", "foreach": "None", "fused": "None", "lr": "0.2",
                "maximize": "False", "momentum": "0", "nesterov": "False", "weight_decay": "0"}),
    "adam_opt = torch.optim.Adam": (
        "Adam", {"amsgrad": "False", "betas": "(0.9, 0.999)", "capturable": "False", "differentiable": "False",
                 "eps": "1e-08", "foreach": "None", "fused": "None", "lr": "0.001", "maximize": "False",
                 "weight_decay": "0"}),
    "rms_opt = torch.optim.RMSprop": (
        "RMSprop", {"alpha": "0.99", "capturable": "False", "centered": "False", "differentiable": "False",
                    "eps": "1e-08", "foreach": "None", "lr": "0.01", "maximize": "False", "momentum": "0",
                    "weight_decay": "0"}),
    "lbg_opt = torch.optim.LBFGS": (
        "LBFGS", {"history_size": "100", "line_search_fn": "None", "lr": "1", "max_eval": "25", "max_iter": "20",
                  "tolerance_change": "1e-09", "tolerance_grad": "1e-07"}),
}


@pytest.mark.parametrize("snippet", SEED_OPTIMIZERS)
def test_an_optimizer_on_its_own_shows_its_hyperparameters(snippet: str) -> None:
    name, seed = SEED_OPTIMIZERS[snippet]
    result = shown(fresh_run(BASICS), snippet).result
    assert result is not None and result.startswith(f"{name} (\nParameter Group 0\n")
    shown_ = hyperparameters(result)
    assert {key: shown_.get(key) for key in seed} == seed


# --- Tutorial 2: Tensor Gradients and Optimization -------------------------------------


def test_requires_grad_and_backward_through_the_mean_chain() -> None:
    nb = fresh_run(TENSORS)
    flags = shown(nb, "x = torch.ones(2, 2)\nprint(x)").stdout
    assert tensors(flags) == [[1] * 4, [1] * 4]
    assert [line for line in flags.splitlines() if line in ("True", "False")] == ["False", "True"]
    chain = shown(nb, "out = z.mean()").stdout
    assert tensors(chain) == [[1] * 4, [3] * 4, [27] * 4, [27], [4.5] * 4]  # x.grad 4.5 everywhere
    for grad_fn in ("AddBackward0", "MulBackward0", "MeanBackward0"):
        assert f"grad_fn=<{grad_fn}>" in chain


def test_intermediate_tensors_keep_no_grad() -> None:
    seen = shown(fresh_run(TENSORS), "print('y.grad:', y.grad)")
    for name, grad_fn in (("y", "AddBackward0"), ("z", "MulBackward0")):
        assert f"{name}.grad: None\n{name}.requires_grad: True\n{name}.grad_fn: <{grad_fn} object at 0x" in seen.stdout
    assert "not a leaf Tensor" in seen.stderr and "print('y.grad:', y.grad)" in seen.stderr


def test_no_grad_and_detach() -> None:
    nb = fresh_run(TENSORS)
    assert shown(nb, "x = torch.randn(3, requires_grad=True)").stdout == "True\nTrue\nFalse\n"
    assert shown(nb, "y = x.detach()").stdout == "True\nFalse\ntensor(True)\n"


def test_one_step_and_convergence_of_gradient_descent_by_backward() -> None:
    # The rule the tutorial prints, checked on the seed's own numbers first: 0.2121 -> -7.5758 -> 0.9697.
    assert 2 * (0.2121 - 4) == pytest.approx(-7.5758, abs=FOUR_PLACES)
    assert 0.2121 - 0.1 * -7.5758 == pytest.approx(0.9697, abs=FOUR_PLACES)
    torch.manual_seed(0)
    start = torch.randn(1).item()  # what the seeded cells draw
    grad = 2 * (start - 4)
    moved = start - 0.1 * grad
    nb = fresh_run(TENSORS)
    step = shown(nb, "# First lets try to code only a single step").stdout
    assert tensors(step) == approx([[start], [grad], [moved], [moved], [moved]])
    assert "grad_fn=<SubBackward0>" in step and step.rstrip().endswith("requires_grad=True)")
    converged = shown(nb, "# Gradient Descent till convergence").stdout
    assert tensors(converged) == approx([[start], [4.0]])  # the seed's Soln x: tensor([4.0000])


# --- under gradtui ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [BASICS, TENSORS], ids=lambda p: p.stem)
def test_gradtui_runs_the_notebook_to_what_jupyter_prints(run_script: Any, path: Path) -> None:
    """Every cell's printed text, in order, is in what the script printed under gradtui."""
    tl = run_script(path)
    assert tl.status == "finished", tl.error
    printed = re.sub(r"0x[0-9a-fA-F]+", "0x…", stdout(tl))
    at = 0  # the stored outputs are a fresh Jupyter run's (checked above), so no kernel is needed here
    for cell in (c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"):
        text = re.sub(r"0x[0-9a-fA-F]+", "0x…", shown_by(cell).stdout)
        found = printed.find(text, at)
        assert found >= 0, f"not printed under gradtui after offset {at}: {text!r}"
        at = found + len(text)
    if path == BASICS:  # theta's .grad at each backward() the seed printed: In [24], [35], [38] x3, [40] x2, [41]
        assert [after for _, after in grad_changes(tl, "backward", "theta")] == [[2.0], [2.0], [4.0], [6.0],
                                                                                  [8.0], [2.0], [2.0], [2.0]]
