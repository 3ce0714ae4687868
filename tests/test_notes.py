"""Each note fires on a script that earns it, and stays quiet on a correct one.

The expected numbers come from the scripts' own arithmetic (d/dw w² = 2w, and so on).
"""

from __future__ import annotations

from tests.conftest import SCENARIOS, SCRIPTS


def notes_of(timeline, kind: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    return [n for e in timeline.events if kind is None or e.kind == kind for n in e.notes]


def test_accumulation_is_noted_once_per_parameter(run_script) -> None:
    timeline = run_script(SCENARIOS / "accumulation.py")
    notes = notes_of(timeline, "backward")
    assert len(notes) == 1
    assert notes[0].startswith("theta.grad still held 2 from an earlier backward()")
    (event,) = [e for e in timeline.events if e.notes and e.kind == "backward"]
    assert event.grads["theta"].after.values == [4.0]  # the second backward: 2 → 4


def test_correct_loops_have_no_notes(run_script) -> None:
    for name in ("sgd_loop.py", "adam.py", "rmsprop.py", "converge.py", "lbfgs.py"):
        assert notes_of(run_script(SCENARIOS / name)) == [], name


def test_step_without_a_gradient(run_script) -> None:
    notes = notes_of(run_script(SCRIPTS / "notes_step_without_backward.py"), "step")
    assert notes == ["opt.step() ran while w had no gradient (.grad is None): "
                     "was backward() called after zero_grad()?"]


def test_parameter_that_never_gets_a_gradient(run_script) -> None:
    notes = notes_of(run_script(SCRIPTS / "notes_unused_parameter.py"), "step")
    assert len(notes) == 1 and notes[0].startswith("unused has not received a gradient at any point in this run")


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


def test_exploding_and_vanishing_gradients(run_script) -> None:
    notes = notes_of(run_script(SCRIPTS / "notes_norms.py"), "backward")
    # d/dbig big² = 2e6 (above 1e4); d/dsmall small⁴ = 4 small³ = 4e-9 (below 1e-8).
    assert any(n.startswith("big.grad has norm 2e+06, above 10000") for n in notes)
    assert any(n.startswith("small.grad has norm 4e-09, below 1e-08") for n in notes)


def test_norm_limits_are_the_users(tmp_path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    r = subprocess.run([sys.executable, "-m", "gradtui", "--grad-norm-above", "1e7", "--trace",
                        str(SCRIPTS / "notes_norms.py")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    assert "big.grad has norm" not in r.stdout and "small.grad has norm 4e-09" in r.stdout
