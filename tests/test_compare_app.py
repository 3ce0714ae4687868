"""The side-by-side view (``gradtui --compare``): one cursor over two runs, checked against torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gradtui.model.divergence import places_of
from gradtui.model.run_pairs import RunPair
from gradtui.model.tolerance import Tolerance
from gradtui.run_files import open_run
from gradtui.ui.compare_app import CompareApp

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "compare_optimizers.py"
SIZE = (130, 40)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("sides")
    out = []
    for name in ("sgd", "adam"):
        path = d / f"{name}.json"
        subprocess.run([sys.executable, "-m", "gradtui", "--record", str(path), str(SCENARIO), "--optimizer", name],
                       capture_output=True, timeout=120, check=False)
        assert path.exists()
        out.append(path)
    return out[0], out[1]


def make_app(recorded: tuple[Path, Path]) -> CompareApp:
    a, b = (open_run(str(p)) for p in recorded)
    return CompareApp(RunPair(a, b, places_of(a, b)), ("compare_optimizers.py --optimizer sgd",
                                                       "compare_optimizers.py --optimizer adam"), Tolerance())


def torch_after(name: str, steps: int) -> list[float]:
    t = torch.nn.Parameter(torch.Tensor([1, -1]))
    opt = {"sgd": lambda: torch.optim.SGD([t], lr=0.2), "adam": lambda: torch.optim.Adam([t], lr=0.1)}[name]()
    for _ in range(steps):
        opt.zero_grad()
        torch.sum(t * t).backward()
        opt.step()
    return t.detach().tolist()


async def test_steps_move_both_runs_and_show_torchs_values(recorded: tuple[Path, Path]) -> None:
    app = make_app(recorded)
    async with app.run_test(size=SIZE) as pilot:
        for steps in (1, 2, 3):
            await pilot.press("right")
            pair = app.runs.pairs(app.spot.segment)[app.spot.index]
            ea, eb = app.runs.events[0][pair.a], app.runs.events[1][pair.b]
            assert ea.kind == eb.kind == "step"
            assert ea.params["tensor"].after.values == pytest.approx(torch_after("sgd", steps))
            assert eb.params["tensor"].after.values == pytest.approx(torch_after("adam", steps))
            assert f"step {steps}/10" in str(app.status_text())
        await pilot.press("left")
        assert "step 2/10" in str(app.status_text())


async def test_d_jumps_to_the_first_divergence(recorded: tuple[Path, Path]) -> None:
    app = make_app(recorded)
    async with app.run_test(size=SIZE) as pilot:
        assert "first divergence (D): tensor after step 1" in str(app.status_text())
        await pilot.press("D")
        text = str(app.status_text())
        assert "▶ here: tensor after step 1: max |Δ| 0.3" in text and "SGD vs Adam" in text
        pair = app.runs.pairs(app.spot.segment)[app.spot.index]
        assert app.runs.events[0][pair.a].kind == "step"
        await pilot.press("n")
        assert "▶ here" not in str(app.status_text())


async def test_the_end_and_the_start_are_said(recorded: tuple[Path, Path]) -> None:
    app = make_app(recorded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("end")
        assert "step 10/10" in str(app.status_text())
        await pilot.press("n")
        assert "at the end of both runs" in str(app.status_text())
        await pilot.press("home", "N")
        assert "at the start" in str(app.status_text())


def test_side_by_side_after_the_divergence(snap_compare, recorded: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("D", "right", "right")

    assert snap_compare(make_app(recorded), run_before=run_before, terminal_size=SIZE)
