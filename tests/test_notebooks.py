"""``gradtui NOTEBOOK.ipynb``: the code cells run in order, and everything points at cell and line.

The truth is torch run directly on the same code, and what Jupyter shows for the same
cells (``Out[n]`` is the value's repr; a trailing ``;`` shows nothing).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from gradtui.model.cells import parse_cells
from gradtui.model.events import BackwardDone, ErrorRaised, LineReached
from tests.apptools import live_app, panel_text, press, started, wait_until
from tests.helpers import grad_changes, of_kind, stdout

ROOT = Path(__file__).resolve().parent.parent

SET_UP = "%matplotlib inline\nimport os, torch\ntheta = torch.nn.Parameter(torch.Tensor([1]))"
LOOP = "for _ in range(4):\n    loss = theta * theta\n    loss.backward()\n    print(theta.grad)\ntheta.grad"
QUIET = ("!pip install nothing-at-all\nprint('cwd', os.getcwd())\nprint('file' , '__file__' in globals())\n"
         "display(theta.grad * 10)\n1 + 1;")
FAILING = "def f(x):\n    return 1 / x\nf(0)"


def write_notebook(folder: Path, *cells: str, counts: list[int | None] | None = None) -> Path:
    made = [new_markdown_cell("<br>\n## Gradients accumulate\nSome text")]
    for i, source in enumerate(cells):
        cell = new_code_cell(source)
        cell.execution_count = counts[i] if counts else None
        made.append(cell)
    made.append(new_raw_cell("raw text, never run"))
    path = folder / "lesson.ipynb"
    nbformat.write(new_notebook(cells=made), path)
    return path


def torch_grads() -> list[float]:
    theta = torch.nn.Parameter(torch.Tensor([1]))
    grads = []
    for _ in range(4):
        (theta * theta).backward()
        assert theta.grad is not None
        grads.append(theta.grad.item())
    return grads


def test_the_cells_run_in_order_in_one_namespace(run_script, tmp_path: Path) -> None:
    path = write_notebook(tmp_path, SET_UP, LOOP, QUIET)
    tl = run_script(path)
    assert tl.status == "finished", tl.error
    grads = [after[0] for _, after in grad_changes(tl, "backward", "theta")]
    assert grads == torch_grads() == [2.0, 4.0, 6.0, 8.0]
    out = stdout(tl)
    truth = torch.nn.Parameter(torch.Tensor([8]))
    # Jupyter shows the last bare expression's repr as Out[n]; the cells had no counts: 1, 2, 3.
    assert f"Out[2]: {truth.data!r}\n" in out
    assert "Out[3]" not in out  # 1 + 1; is quiet
    # Jupyter runs a notebook in its own folder, and gives it no __file__.
    assert f"cwd {tmp_path.resolve()}\n" in out or f"cwd {tmp_path}\n" in out
    assert "file False\n" in out
    assert f"{torch.tensor([80.0])!r}\n" in out  # IPython's display(), which a notebook needs no import for
    assert os.getcwd() != str(tmp_path)  # and the folder is given back afterwards


def test_the_source_is_the_cells_and_lines_point_into_them(run_script, tmp_path: Path) -> None:
    path = write_notebook(tmp_path, SET_UP, LOOP, QUIET, counts=[3, 7, 12])
    tl = run_script(path)
    text = tl.sources["lesson.ipynb"]
    assert "# %% In [7]" in text and '"cells"' not in text  # the cells, not the JSON
    cells = parse_cells(text, notebook=True)
    assert cells is not None
    backward = of_kind(tl, "backward")[0]
    assert isinstance(backward, BackwardDone)
    assert cells.place(backward.line) == "In [7], line 3"
    assert text.splitlines()[backward.line - 1] == "    loss.backward()"
    skipped = {cells.place(e.line): e.notes for e in of_kind(tl, "line") if e.notes}
    assert list(skipped) == ["In [3], line 1", "In [12], line 1"]
    assert "sets up Jupyter" in skipped["In [3], line 1"][0]
    assert "shell commands do not run" in skipped["In [12], line 1"][0]


def test_an_error_names_its_cell_and_line(run_script, tmp_path: Path) -> None:
    path = write_notebook(tmp_path, SET_UP, FAILING, counts=[1, 24])
    tl = run_script(path)
    assert tl.status == "error" and tl.error is not None and tl.error.type == "ZeroDivisionError"
    error = of_kind(tl, "error")[0]
    assert isinstance(error, ErrorRaised)
    cells = parse_cells(tl.sources["lesson.ipynb"], notebook=True)
    assert cells is not None and cells.place(error.line) == "In [24], line 2"
    assert 'File "lesson.ipynb", In [24], line 3, in <module>\n    f(0)' in error.traceback
    assert 'File "lesson.ipynb", In [24], line 2, in f\n    return 1 / x' in error.traceback


def gradtui(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gradtui", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def test_trace_and_replay_of_a_notebook(tmp_path: Path) -> None:
    path = write_notebook(tmp_path, SET_UP, LOOP, FAILING)
    traced = gradtui("--trace", str(path))
    assert traced.returncode == 1
    lines = traced.stdout.splitlines()
    assert "In [2] L3   backward  loss=1  theta.grad 6 → 8" in lines
    assert "In [1] L1   line      %matplotlib inline" in lines
    assert 'File "lesson.ipynb", In [3], line 2, in f' in traced.stderr
    recording = tmp_path / "run.db"
    assert gradtui("--record", str(recording), str(path)).returncode == 1
    from gradtui.model.store.reader import Recording

    kept = Recording(recording).sources()
    assert kept["lesson.ipynb"].startswith("# %% [markdown]\n# <br>\n# ## Gradients accumulate")


@pytest.mark.parametrize(("content", "says"), [
    ("{not json", "is not a notebook (not valid JSON at line 1)"),
    ('{"cells": 3}', "is not a notebook nbformat can read"),
])
def test_a_broken_notebook_is_one_line(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    result = gradtui("--trace", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"gradtui: {path}: {says}") and "Traceback" not in result.stderr


def test_a_syntax_error_names_the_cell(tmp_path: Path) -> None:
    path = write_notebook(tmp_path, SET_UP, "x = 1\ny = (", counts=[1, 5])
    result = gradtui("--trace", str(path))
    assert result.returncode == 2
    assert result.stderr == f"gradtui: {path}: In [5], line 2: SyntaxError: '(' was never closed\n"


def test_an_error_only_the_compiler_finds_names_the_cell(tmp_path: Path) -> None:
    """Top-level await parses, then fails to compile: still one line with the cell's own line number."""
    path = write_notebook(tmp_path, SET_UP, "import asyncio\nawait asyncio.sleep(0)", counts=[1, 2])
    result = gradtui("--trace", str(path))
    assert result.returncode == 2
    assert result.stderr == f"gradtui: {path}: In [2], line 2: SyntaxError: 'await' outside function\n"


def test_a_notebook_without_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "words.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# only words")]), path)
    result = gradtui("--trace", str(path))
    assert (result.returncode, result.stderr) == (2, f"gradtui: {path}: the notebook has no code to run\n")


SIZE = (120, 40)


async def test_cells_on_screen_and_the_cell_keys(tmp_path: Path) -> None:
    path = write_notebook(tmp_path, SET_UP, LOOP, QUIET)
    app = live_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "right_square_bracket")
        source = panel_text(app, "SourceView")
        assert "In [1]:" in source and "In [2]:" in source and "Gradients accumulate" in source
        assert "▶1 for _ in range(4):" in source
        assert "In [2], line 1" in panel_text(app, "StatusLine")
        await press(pilot, "right_square_bracket")
        status = panel_text(app, "StatusLine")
        assert "In [3], line 1" in status and "shell commands do not run" in status
        # On the way, the loop's four backward passes ran: the gradients panel saw 2 → 4 → 6 → 8.
        assert "8" in panel_text(app, "#grads")
        await press(pilot, "left_square_bracket")
        assert "In [2], line 1" in panel_text(app, "StatusLine")
        event = app.events[app.cursor]
        assert isinstance(event, LineReached) and event.seq == min(
            e.seq for e in app.events if isinstance(e, LineReached) and "range(4)" in app._sources.get(
                e.file, "").splitlines()[e.line - 1])
        await press(pilot, "left_square_bracket")
        assert "In [1], line 1" in panel_text(app, "StatusLine")
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: any("no earlier cell" in str(n.message) for n in app._notifications),
                         "the notice that no cell is earlier")
        await pilot.press("q")


async def test_cell_keys_on_a_plain_script_say_why_not() -> None:
    app = live_app(ROOT / "scenarios" / "accumulation.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        before = app.cursor
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: any("no cells" in str(n.message) for n in app._notifications),
                         "the notice that the script has no cells")
        assert app.cursor == before
        await pilot.press("q")


async def test_a_percent_script_shows_cells_and_keeps_its_file_lines() -> None:
    """A ``# %%`` script: cells on screen, ``]`` runs on cell by cell; its lines are the file's own."""
    script = ROOT / "scenarios" / "accumulation_cells.py"
    lines = script.read_text().split("\n")
    app = live_app(script)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        source = panel_text(app, "SourceView")
        assert "In [1]: One backward" in source and "Gradients accumulate (gradient tutorial" in source
        event = app.events[app.cursor]
        assert lines[event.line - 1] == "import torch"
        assert f"line {event.line}" in panel_text(app, "StatusLine")  # a file's line, not a cell's
        await press(pilot, "right_square_bracket")
        assert lines[app.events[app.cursor].line - 1] == "optimizer = torch.optim.SGD(params=[theta], lr=0.2)"
        await press(pilot, "right_square_bracket")
        event = app.events[app.cursor]
        assert lines[event.line - 1] == "optimizer.zero_grad()"
        # Cell 2's loop ran on the way: theta.grad as torch gives it after four backward calls.
        theta = torch.nn.Parameter(torch.Tensor([1]))
        for _ in range(4):
            (theta * theta).backward()
        assert theta.grad is not None
        grads = [b for b in app.events if isinstance(b, BackwardDone)]
        assert len(grads) == 4 and grads[-1].grads["theta"].after.values == theta.grad.tolist()
        await pilot.press("q")


async def test_a_replay_shows_the_cells_it_ran_without_the_notebook(tmp_path: Path) -> None:
    """The recording keeps the cells: with the .ipynb gone, a replay shows them and ] / [ still move."""
    from gradtui.model.store.reader import Recording
    from gradtui.ui.app import GradtuiApp
    from tests.apptools import THEME

    path = write_notebook(tmp_path, SET_UP, LOOP, QUIET, counts=[1, 2, 3])
    recording = tmp_path / "run.db"
    assert gradtui("--record", str(recording), str(path)).returncode == 0
    path.unlink()
    app = GradtuiApp(Recording(recording).timeline(), None, theme=THEME)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "right_square_bracket", "right_square_bracket")
        status = panel_text(app, "StatusLine")
        assert "In [3], line 1" in status and "shell commands do not run" in status
        assert "In [2]:" in panel_text(app, "SourceView")
        assert "None → 2 → 4 → 6 → 8" in panel_text(app, "#grads")
        await pilot.press("v")
        await wait_until(pilot, lambda: "<module> In [3] L1" in panel_text(app, "#variables"), "the stack's cell")
        assert "<module> · In [3], line 1" in panel_text(app, "#variables")
        await press(pilot, "left_square_bracket")
        assert "In [2], line 1" in panel_text(app, "StatusLine")
        await pilot.press("q")


def test_a_warning_names_the_cell_it_came_from(tmp_path: Path) -> None:
    """torch's warning about .grad of a non-leaf, raised in C++, is shown at the cell's line (as the user finds it)."""
    write_notebook(tmp_path, "import torch\nx = torch.ones(2, requires_grad=True)", "y = x * 2\nprint(y.grad)",
                   counts=[1, 2])
    # Named relative to another folder: the run moves into the notebook's, and must still know its file.
    traced = gradtui("--trace", f"{tmp_path.name}/lesson.ipynb", cwd=tmp_path.parent)
    assert traced.returncode == 0, traced.stderr
    assert "lesson.ipynb, In [2]:2: UserWarning: The .grad attribute of a Tensor that is not a leaf" in traced.stdout


TUTORIAL = ROOT / "scenarios" / "notebooks" / "gradient_basics.ipynb"


async def _to_cell(pilot, app, label: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(40):
        if f"{label}, line " in panel_text(app, "StatusLine"):
            return
        await press(pilot, "right_square_bracket")
    raise AssertionError(f"] never reached {label}")


async def test_the_tutorial_notebook_in_the_app_cell_by_cell() -> None:
    """The gradient tutorial's accumulation cell, reached with ]: theta.grad 2 → 4 → 6 → 8 as the seed prints."""
    app = live_app(TUTORIAL)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await _to_cell(pilot, app, "In [19]")
        assert "In [19]:" in panel_text(app, "SourceView")
        await _to_cell(pilot, app, "In [20]")
        grads = panel_text(app, "#grads")
        assert "2 → 4 → 6 → 8" in grads, grads
        output = panel_text(app, "#output")
        for printed in ("After 1st loss.backward(): theta.grad=tensor([4.])",
                        "After 3rd loss.backward(): theta.grad=tensor([8.])", "Out[3]: 0.6"):
            assert printed in output
        await pilot.press("q")
