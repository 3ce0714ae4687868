"""Each note fires on a script that earns it, and stays quiet on a correct one.

The expected numbers come from the scripts' own arithmetic (d/dw w² = 2w, and so on),
or from the same computation run with torch directly in the test.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest
import torch

from gradtui.model.formatting import format_number
from tests.conftest import SCENARIOS, SCRIPTS

REAL = SCRIPTS / "real"


def notes_of(timeline, kind: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    return [n for e in timeline.events if kind is None or e.kind == kind for n in e.notes]


def test_accumulation_is_noted_once_per_parameter(run_script) -> None:
    timeline = run_script(SCENARIOS / "accumulation.py")
    notes = notes_of(timeline, "backward")
    assert len(notes) == 1
    assert notes[0].startswith("theta.grad still held 2 from an earlier backward()")
    (event,) = [e for e in timeline.events if e.notes and e.kind == "backward"]
    assert event.grads["theta"].after.values == [4.0]  # the second backward: 2 → 4


@functools.cache
def run_quietly(path: Path):  # type: ignore[no-untyped-def]
    """The timeline of ``path`` run to the end, once per test session; backward passes not
    node by node (notes do not need it, and the long loops run faster)."""
    from gradtui.engine.script import load_script
    from gradtui.engine.session import Session

    session = Session(load_script(str(path)), [], record_nodes=False)
    session.start()
    assert session.join(600), f"{path} did not finish"
    return session.timeline


#: Healthy scripts that demonstrate a note on purpose, with the only notes they may give.
#: accumulation.py calls backward() three times without zero_grad() (the tutorial's point);
#: mean_chain.py reads .grad of a non-leaf, and torch's warning about it is explained (in a
#: test process the warning may be filtered away, so the note may be missing);
#: bf16_autocast_scaler.py overflows one batch on purpose, and GradScaler skips its step.
DEMONSTRATED = {
    "bf16_autocast_scaler.py": [
        ("backward", "the loss is inf; the first non-finite value came out of mse_loss(tensor#19, y) at line 23. "
                     "Every update from here on carries it."),
        ("clip", "the total gradient norm is NaN (model.0.weight.grad, model.0.bias.grad, model.2.weight.grad, … not "
                 "finite), so clip_grad_norm_ multiplied every .grad by NaN: all of them are NaN now. The next step() "
                 "will write NaN into the weights unless it is skipped (GradScaler.step skips it after inf/NaN): find "
                 "the operation the inf/NaN came from, or pass error_if_nonfinite=True to stop here."),
        ("step", "optimizer.step() was skipped (inf/NaN gradients): a skip now and then is how GradScaler finds "
                 "its scale; a skip on most steps means the loss overflows at any scale."),
    ],
    "accumulation.py": [("backward", "theta.grad still held 2 from an earlier backward(), and this backward() added "
                                     "to it: gradients accumulate until zero_grad() (or .grad = None) resets them.")],
    "accumulation_cells.py": [("backward", "theta.grad still held 2 from an earlier backward(), and this backward() "
                                           "added to it: gradients accumulate until zero_grad() (or .grad = None) "
                                           "resets them.")],
    "mean_chain.py": [("output", "That tensor is not a leaf (it was computed from others), so torch does not keep its "
                                 ".grad: it reads None. Call .retain_grad() on it before backward() to keep it.")],
}

#: Scripts whose notes are the point, checked by their own tests (test_grad_hooks: the halving
#: hook's note, and the micro-batches adding up in .grad).
NOTED_BY_DESIGN = {"accumulation_hook.py"}


def test_every_healthy_script_here_runs_without_a_note() -> None:
    scripts = sorted(REAL.glob("*.py")) + sorted(SCENARIOS.glob("*.py"))
    assert len(scripts) >= 21
    for path in scripts:
        timeline = run_quietly(path)
        assert timeline.status == "finished", path.name
        notes = [(e.kind, n) for e in timeline.events for n in e.notes]
        if path.name in NOTED_BY_DESIGN:
            continue
        expected = DEMONSTRATED.get(path.name, [])
        if path.name == "mean_chain.py":
            assert notes in (expected, []), path.name
        else:
            assert notes == expected, path.name


def test_the_tutorials_gradients_are_large_and_that_is_normal() -> None:
    # polynomial_autograd's first pass, with torch directly: norms far above any fixed
    # threshold (the old 1e4 fired 49 times on this script), on every pass of a healthy run.
    x = torch.linspace(-math.pi, math.pi, 2000)
    torch.manual_seed(0)
    a, b, c, d = (torch.randn((), requires_grad=True) for _ in range(4))
    loss = (a + b * x + c * x ** 2 + d * x ** 3 - torch.sin(x)).pow(2).sum()
    loss.backward()
    assert d.grad is not None and abs(float(d.grad)) > 1e5
    timeline = run_quietly(REAL / "sum_regression.py")
    backwards = [e for e in timeline.events if e.kind == "backward"]
    assert len(backwards) == 2000
    assert backwards[0].grads["d"].after.scalar() == float(d.grad)
    assert notes_of(timeline) == []


def test_a_parameter_unused_on_some_iterations_is_not_a_missing_gradient() -> None:
    # dynamic_net: e is used on odd iterations only, so on even ones step() finds e.grad None.
    timeline = run_quietly(REAL / "unused_parameter.py")
    backwards = [e for e in timeline.events if e.kind == "backward"]
    assert len(backwards) == 400 and sum(len(e.grads) == 4 for e in backwards) == 200
    assert notes_of(timeline) == []


def test_step_without_a_gradient(run_script) -> None:
    notes = notes_of(run_script(SCRIPTS / "notes_step_without_backward.py"), "step")
    assert notes == ["opt.step() ran while w had no gradient (.grad is None): "
                     "was backward() called after zero_grad()?"]


def test_step_after_zero_grad_has_only_zeros_to_apply(run_script) -> None:
    timeline = run_script(SCRIPTS / "notes_zero_grad_after_backward.py")
    steps = [e for e in timeline.events if e.kind == "step"]
    assert len(steps) == 3
    assert steps[0].notes == ("opt.step() ran while net.weight and net.bias had no gradient (.grad is None, or "
                              "still zero from zero_grad()): was backward() called after zero_grad()?",)
    assert notes_of(timeline) == list(steps[0].notes)  # once, not at every step
    # The step applied zeros: SGD without momentum left the parameters as they were.
    assert all(c.before == c.after for c in steps[0].params.values())


def test_parameter_that_never_gets_a_gradient_is_told_when_the_run_is_over(run_script) -> None:
    timeline = run_script(SCRIPTS / "notes_unused_parameter.py")
    assert notes_of(timeline, "step") == []
    review = timeline.events[-1]
    assert review.kind == "review" and len(review.notes) == 1
    assert review.notes[0] == ("unused has not received a gradient at any point in this run, though it is among "
                               "opt's parameters: not connected to the loss (detach, no_grad, or simply unused).")


def test_an_interrupted_run_does_not_claim_the_whole_run() -> None:
    from gradtui.engine.script import load_script
    from gradtui.engine.session import Session
    from gradtui.model.stops import EventStop

    session = Session(load_script(str(SCRIPTS / "notes_unused_parameter.py")), [], stops=(EventStop("step"),))
    session.start()
    assert session.wait(60) and session.paused_at is not None and session.paused_at.kind == "step"
    session.stop()
    assert session.join(60)
    timeline = session.timeline
    assert timeline.status == "interrupted"
    (note,) = notes_of(timeline, "review")
    assert note == ("unused had not received a gradient when the run was interrupted, though it is among opt's "
                    "parameters.")


def test_the_review_is_in_the_trace_the_status_line_and_the_saved_timeline(run_script, tmp_path) -> None:
    import subprocess
    import sys

    from gradtui.model import codec
    from gradtui.ui.view import View
    from gradtui.ui.widgets.status import render_status
    from tests.conftest import REPO

    r = subprocess.run([sys.executable, "-m", "gradtui", "--trace", str(SCRIPTS / "notes_unused_parameter.py")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    last = r.stdout.splitlines()[-2:]
    assert last[0].split()[1:] == ["review", "looking", "back", "over", "the", "run"]
    assert last[1].strip().startswith("⚠ unused has not received a gradient at any point in this run")

    timeline = run_script(SCRIPTS / "notes_unused_parameter.py")
    events = timeline.events
    status = render_status(View(events=events, cursor=len(events) - 1, finished=True, status="finished")).plain
    assert "the script finished" in status and "looking back over the run: a note" in status
    assert "⚠ unused has not received a gradient at any point in this run" in status

    codec.save(timeline, tmp_path / "run.json")
    assert codec.load(tmp_path / "run.json").events[-1] == events[-1]


def test_update_outside_no_grad_loses_the_leaf(run_script) -> None:
    timeline = run_script(SCRIPTS / "notes_lost_leaf.py")
    notes = notes_of(timeline, "backward")
    assert len(notes) == 1 and notes[0].startswith("x is no longer a leaf") and "SubBackward0" in notes[0]
    assert notes_of(run_script(SCENARIOS / "manual_update.py")) == []  # the tutorial does it under no_grad


def test_grad_of_a_non_leaf_is_explained(tmp_path) -> None:
    # In a process of its own: pytest's warning filters would hide torch's warning here.
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    record = tmp_path / "mean.json"
    r = subprocess.run([sys.executable, "-m", "gradtui", "--record", str(record), str(SCENARIOS / "mean_chain.py")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    events = json.loads(record.read_text())["events"]
    notes = [(e["kind"], n) for e in events for n in e.get("notes", [])]
    assert len(notes) == 1 and notes[0][0] == "output" and "retain_grad()" in notes[0][1]


def test_second_backward_through_a_freed_graph(run_script) -> None:
    timeline = run_script(SCRIPTS / "notes_freed_graph.py")
    assert timeline.status == "error"
    (note,) = notes_of(timeline, "error")
    assert "retain_graph=True" in note


def test_nan_in_the_loss_names_the_op_it_came_from(run_script) -> None:
    timeline = run_script(SCRIPTS / "notes_nan.py")
    (note,) = notes_of(timeline, "backward")
    assert note.startswith("the loss is nan") and "log(z) at line 6" in note


def _diverging_run_with_torch() -> tuple[list[float], list[float]]:
    """notes_exploding.py's losses and model.weight.grad norms, computed with torch directly."""
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.5)
    losses, norms = [], []
    for _ in range(42):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        assert model.weight.grad is not None
        losses.append(loss.item())
        norms.append(float(torch.linalg.vector_norm(model.weight.grad)))
        opt.step()
    return losses, norms


def _backward_notes(timeline) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """(backward number from 0, note) for each note on a backward."""
    backwards = [e for e in timeline.events if e.kind == "backward"]
    return [(i, n) for i, e in enumerate(backwards) for n in e.notes]


def test_a_diverging_run_is_told_once_that_its_gradient_explodes(run_script) -> None:
    losses, norms = _diverging_run_with_torch()
    assert losses[20] > 1e6 * losses[0]  # the loss really diverges...
    non_finite = [i for i, loss in enumerate(losses) if not math.isfinite(loss)]
    assert len(non_finite) >= 2  # ...to inf and beyond
    # The growth rule on torch's numbers: the first pass with ten rises in a row, a
    # thousand times the norm the rise began from.
    first = next(i for i in range(10, len(norms))
                 if all(norms[j] > norms[j - 1] for j in range(i - 9, i + 1)) and norms[i] >= 1e3 * norms[i - 10])
    notes = _backward_notes(run_script(SCRIPTS / "notes_exploding.py"))
    weight = [(i, n) for i, n in notes if n.startswith("model.weight.grad")]
    assert len(weight) == 1 and weight[0][0] == first
    assert "has grown at each of the last 10 backward passes" in weight[0][1]
    assert f"to {format_number(norms[first])}" in weight[0][1] and "the gradient is exploding" in weight[0][1]
    assert all(i >= first for i, _ in notes)  # nothing before
    # NaN or inf: said at the first non-finite pass only, though the following ones are too.
    nan_notes = [(i, n) for i, n in notes if "Every update from here on carries it" in n]
    assert [i for i, _ in nan_notes] == [non_finite[0]]


def test_a_deep_stack_of_sigmoids_is_told_its_first_layers_gradient_vanished(run_script) -> None:
    # The same network with torch directly: the first layer's gradient per element against the largest.
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(12):
        layers += [torch.nn.Linear(8, 8), torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(8, 1))
    x, y = torch.randn(32, 8), torch.randn(32, 1)
    torch.nn.functional.mse_loss(net(x), y).backward()
    sizes = {n: float(p.grad.norm()) / math.sqrt(p.numel()) for n, p in net.named_parameters() if p.grad is not None}
    assert sizes["0.weight"] < 1e-9 * max(sizes.values())

    notes = _backward_notes(run_script(SCRIPTS / "notes_vanishing.py"))
    assert len(notes) == 1  # once, though all five passes are alike
    index, note = notes[0]
    assert index == 2  # the third pass in a row
    assert note.startswith("net.0.weight.grad is ") and "the gradient vanished" in note
    assert "likewise net.0.bias.grad" in note


def test_explicit_norm_limits_apply_only_when_set(run_script) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    # d/dbig big² = 2e6; d/dsmall small⁴ = 4 small³ = 4e-9: one backward, nothing to compare with.
    assert notes_of(run_script(SCRIPTS / "notes_norms.py")) == []
    r = subprocess.run([sys.executable, "-m", "gradtui", "--grad-norm-above", "1e3", "--grad-norm-below", "1e-6",
                        "--trace", str(SCRIPTS / "notes_norms.py")], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "⚠ big.grad has norm 2e+06, above the limit 1000: you asked to hear of it (--grad-norm-above)." \
        in r.stdout
    assert "⚠ small.grad has norm 4e-09, below the limit 1e-06: you asked to hear of it (--grad-norm-below)." \
        in r.stdout


def test_zero_grad_keeping_zeros_on_large_weights_reads_as_a_reset(run_script) -> None:
    from gradtui.model.sentences import describe

    timeline = run_script(SCRIPTS / "zero_grad_keeps_zeros.py")
    events = timeline.events
    zeroed = [i for i, e in enumerate(events) if e.kind == "zero_grad"]
    backwards = [i for i, e in enumerate(events) if e.kind == "backward"]
    assert describe(events, zeroed[1]) == "opt.zero_grad(): 2 grads set to zero"
    second = events[backwards[1]]
    weight = second.grads["net.weight"]
    assert weight.before is not None and weight.before.values is None  # 100 elements: statistics only
    assert describe(events, backwards[1]).startswith("backward() from loss")
    assert "net.weight.grad" in describe(events, backwards[1])
    assert describe(events, backwards[1]).endswith("(added to the old value, which was zero), and 1 more")
    assert notes_of(timeline) == []
    # With torch directly: the second gradient is the fresh one at the stepped weights, not a sum.
    torch.manual_seed(0)
    net = torch.nn.Linear(10, 10)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.randn(4, 10)
    for _ in range(2):
        opt.zero_grad(set_to_none=False)
        net(x).pow(2).sum().backward()
        fresh = float(torch.linalg.vector_norm(net.weight.grad))
        opt.step()
    assert weight.after is not None and weight.after.stats is not None
    assert weight.after.stats.norm == pytest.approx(fresh, rel=1e-6)
