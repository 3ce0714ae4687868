"""Comparing two runs: the first divergence and ``gradtui diff``, checked against torch run directly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gradtui.model.divergence import first_divergence
from gradtui.model.run_pairs import RunPair, param_gaps
from gradtui.model.tolerance import Tolerance
from gradtui.run_files import open_run

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "compare_optimizers.py"

NAN_SCRIPT = """\
import sys
import torch

nan_at = int(sys.argv[1])
w = torch.tensor([0.5, -0.25], requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1)
for step in range(6):
    opt.zero_grad()
    poison = float("nan") if step == nan_at else 0.0
    loss = ((w * 2.0 + poison) ** 2).sum()
    loss.backward()
    opt.step()
"""


def record(out: Path, *command: str | Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "gradtui", "--record", str(out), *map(str, command)],
                          capture_output=True, text=True, timeout=120)
    assert out.exists(), done.stderr
    return out


def diff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gradtui", "diff", *map(str, args)], capture_output=True,
                          text=True, timeout=180)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("runs")
    printing = d / "compare_printing.py"
    lines = SCENARIO.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("def closure"))
    # An added print, before the training (and an op of its own: .sum().item()).
    lines.insert(at, 'print("starting from", tensor.detach().sum().item())')
    printing.write_text("\n".join(lines) + "\n")
    nan = d / "nan.py"
    nan.write_text(NAN_SCRIPT)
    return {
        "sgd": record(d / "sgd.db", SCENARIO, "--optimizer", "sgd"),
        "sgd_again": record(d / "sgd_again.json", SCENARIO, "--optimizer", "sgd"),
        "sgd_lr": record(d / "sgd_lr.db", SCENARIO, "--optimizer", "sgd", "--lr", "0.1"),
        "adam": record(d / "adam.db", SCENARIO, "--optimizer", "adam"),
        "printing": record(d / "printing.db", printing, "--optimizer", "sgd"),
        "healthy": record(d / "healthy.db", nan, "99"),
        "poisoned": record(d / "poisoned.db", nan, "3"),
    }


def walk(a: Path, b: Path, tol: Tolerance | None = None):  # type: ignore[no-untyped-def]
    return first_divergence(open_run(str(a)), open_run(str(b)), tol or Tolerance())


def sgd_after_one_step(lr: float) -> list[float]:
    t = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = torch.optim.SGD([t], lr=lr)
    torch.sum(t * t).backward()
    opt.step()
    return t.detach().tolist()


def test_two_runs_of_one_script_agree(runs: dict[str, Path]) -> None:
    result = walk(runs["sgd"], runs["sgd_again"])  # a recording against a JSON timeline of the same run
    assert result.divergence is None
    assert result.steps == 10
    assert result.compared > 100


def test_a_different_learning_rate_diverges_at_the_first_step_by_torchs_difference(runs: dict[str, Path]) -> None:
    result = walk(runs["sgd"], runs["sgd_lr"])
    d = result.divergence
    assert d is not None and d.reason == "value"
    assert d.steps == 0
    expected = max(abs(x - y) for x, y in zip(sgd_after_one_step(0.2), sgd_after_one_step(0.1)))
    assert d.size == pytest.approx(expected, rel=1e-6)
    assert d.text.startswith("tensor after step 1: max |Δ| 0.2")
    assert "lr 0.2 vs 0.1" in d.text
    event = open_run(str(runs["sgd"])).events[d.a]
    assert event.kind == "step"


def test_a_loose_enough_tolerance_lets_the_learning_rates_agree(runs: dict[str, Path]) -> None:
    assert walk(runs["sgd"], runs["sgd_lr"], Tolerance(rtol=0, atol=1.0)).divergence is None


def test_sgd_against_adam_names_both_optimizers(runs: dict[str, Path]) -> None:
    d = walk(runs["sgd"], runs["adam"]).divergence
    assert d is not None and "SGD vs Adam" in d.text and d.text.startswith("tensor after step 1")


def test_an_extra_print_does_not_throw_the_alignment_off(runs: dict[str, Path]) -> None:
    result = walk(runs["sgd"], runs["printing"])
    assert result.divergence is None, result.divergence
    assert result.steps == 10
    # ...while the same print against a different learning rate still finds step 1.
    d = walk(runs["printing"], runs["sgd_lr"]).divergence
    assert d is not None and d.text.startswith("tensor after step 1")


def test_a_nan_run_diverges_where_the_nan_first_appears(runs: dict[str, Path]) -> None:
    d = walk(runs["healthy"], runs["poisoned"]).divergence
    assert d is not None and d.reason == "value"
    assert d.steps == 3  # three healthy steps before it
    event = open_run(str(runs["poisoned"])).events[d.b]
    assert event.kind == "op" and event.op == "add"  # w * 2.0 + poison
    assert "NaN in run B" in d.text
    # torch agrees: the healthy run has no NaN after the same three steps.
    w = torch.tensor([0.5, -0.25], requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        ((w * 2.0) ** 2).sum().backward()
        opt.step()
    assert torch.isfinite(w * 2.0).all()


def test_largest_difference_per_parameter_is_torchs(runs: dict[str, Path]) -> None:
    a, b = open_run(str(runs["sgd"])), open_run(str(runs["sgd_lr"]))
    from gradtui.model.divergence import places_of

    gaps = param_gaps(RunPair(a, b, places_of(a, b)), Tolerance())
    ta = torch.tensor([1.0, -1.0])
    tb = ta.clone()
    worst = 0.0
    for _ in range(10):
        ta = ta - 0.2 * 2 * ta
        tb = tb - 0.1 * 2 * tb
        worst = max(worst, (ta - tb).abs().max().item())
    assert [g.name for g in gaps] == ["tensor"]
    assert gaps[0].size == pytest.approx(worst, rel=1e-5)


def test_diff_exits_0_when_the_runs_agree(runs: dict[str, Path]) -> None:
    done = diff(runs["sgd"], runs["printing"])
    assert done.returncode == 0, done.stderr
    assert "the runs agree" in done.stdout
    assert "final loss: A 0.00020312  B 0.00020312" in done.stdout  # sum(t*t) at the 10th step: 2 * 0.6**18


def test_diff_exits_1_and_says_where_when_they_diverge(runs: dict[str, Path]) -> None:
    done = diff(runs["sgd"], runs["sgd_lr"])
    assert done.returncode == 1, done.stderr
    assert "first divergence: tensor after step 1: max |Δ| 0.2" in done.stdout
    assert "loss = optimizer.step(closure)" in done.stdout


def test_diff_records_script_sides_first(runs: dict[str, Path], tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRADTUI_CACHE_DIR", str(tmp_path))
    done = diff(f"{SCENARIO} --optimizer sgd", runs["sgd"])
    assert done.returncode == 0, done.stderr
    assert "recording run A" in done.stderr
    assert len(list(tmp_path.glob("*.gradtui.db"))) == 1  # kept for --replay


@pytest.mark.parametrize("args, said", [
    (["missing.py", "missing.db"], "run A: missing.py: no such file"),
    (["SCENARIO", "SCENARIO --optimizer nope"], "run B could not be recorded"),
    (["SCENARIO"], "the following arguments are required: B"),
    (["SCENARIO", "SCENARIO", "--rtol", "-1"], "must be 0 or a positive number"),
])
def test_diff_exits_2_on_bad_input(args: list[str], said: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRADTUI_CACHE_DIR", str(tmp_path))
    done = diff(*(a.replace("SCENARIO", str(SCENARIO)) for a in args))
    assert done.returncode == 2
    assert said in done.stderr
    problems = [line for line in done.stderr.splitlines() if not line.startswith("gradtui: recording run")]
    assert len(problems) == 1 and "Traceback" not in done.stderr


def test_comparing_recordings_needs_no_torch(runs: dict[str, Path]) -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "from gradtui.cli import main\n"
            f"code = main(['diff', {str(runs['sgd'])!r}, {str(runs['sgd_lr'])!r}])\n"
            "print('torch' in sys.modules and sys.modules['torch'] is not None)\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "first divergence: tensor after step 1" in done.stdout
    assert done.stdout.strip().endswith("False")
