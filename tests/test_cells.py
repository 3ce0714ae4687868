"""Cells as the model reads them, and a cell's IPython-only lines as the engine rewrites them (no torch run)."""

from __future__ import annotations

import pytest

from gradtui.engine.ipython_lines import python_lines
from gradtui.model.cells import notebook_text, parse_cells, place

PERCENT = """\
import torch

# %% Set-up
x = torch.ones(2)

# %% [markdown]
# ## The <b>backward</b> pass
# more words

# %%
def f(v):
    return v * 2
y = f(x)
"""


def test_a_percent_script_has_its_cells_with_titles_and_headings() -> None:
    cells = parse_cells(PERCENT)
    assert cells is not None and not cells.notebook
    kinds = [(c.kind, c.label, c.title, c.first, c.last) for c in cells.cells]
    assert kinds == [
        ("code", "In [1]", "", 1, 2),  # the code before the first marker is a cell of its own
        ("code", "In [2]", "Set-up", 4, 4),
        ("markdown", "", "The backward pass", 7, 8),
        ("code", "In [3]", "", 11, 13),
    ]
    assert cells.at(12) is cells.cells[3] and cells.at(3) is cells.cells[1]
    # Top-level statements start in column 0; the body of f does not.
    assert cells.top_lines([3]) == {11, 13}
    # A script's lines are the file's: no cell places.
    assert cells.place(12) is None


def test_a_script_without_markers_has_no_cells() -> None:
    assert parse_cells("x = 1\n# a comment with %% in it\n") is None


def test_a_notebooks_text_reads_back_cell_for_cell() -> None:
    layout = [("markdown", "", "# Title\n\nText"), ("code", "In [24]", "a = 1\nb = a + 1"),
              ("code", "In [25]", "# %% not a marker inside a cell\nc = 3"), ("raw", "", "raw text")]
    text = notebook_text(layout)
    cells = parse_cells(text, notebook=True)
    assert cells is not None and len(cells.cells) == len(layout)
    code = cells.cells[1]
    assert code.label == "In [24]" and text.splitlines()[code.first - 1] == "a = 1"
    assert cells.place(code.first + 1) == "In [24], line 2"
    assert cells.short_place(code.first + 1) == "In [24] L2"
    assert cells.cells[2].last - cells.cells[2].first == 1
    assert place("t.ipynb", code.first, {"t.ipynb": text}) == "In [24], line 1"
    assert place("t.py", 3, {"t.py": text}) == "line 3"


@pytest.mark.parametrize(("line", "python", "noted"), [
    ("!pip install torch", "pass", "shell commands do not run"),
    ("files = !ls", "pass", "shell commands do not run"),
    ("%pip install numpy", "pass", "package installs"),
    ("%matplotlib inline", "pass", "sets up Jupyter"),
    ("%time y = x * 2", "y = x * 2", "runs once, untimed"),
    ("%timeit -n 10 -r 2 f(x)", "f(x)", "runs once, untimed"),
    ("%env CUBLAS_WORKSPACE_CONFIG=:4096:8",
     "__import__('os').environ.__setitem__('CUBLAS_WORKSPACE_CONFIG', ':4096:8')", None),
    ("torch.tensor?", "pass", "help (?)"),
    ("??torch.tensor", "pass", "help (?)"),
    ("%whatever 1 2", "pass", "does not run"),
])
def test_ipython_lines_become_python_or_a_noted_pass(line: str, python: str, noted: str | None) -> None:
    cell = python_lines(f"x = 1\n    \n{line}\nprint(x)")
    assert cell.lines == ["x = 1", "    ", python, "print(x)"]
    if noted is None:
        assert cell.notes == {}
    else:
        assert list(cell.notes) == [3] and noted in cell.notes[3]


def test_only_lines_that_start_a_statement_are_rewritten() -> None:
    source = 'a = (1\n% 2)\ns = """\n!not shell\n"""\nif a:\n    !echo hi\nb = a \\\n  % 3'
    cell = python_lines(source)
    lines = source.split("\n")
    assert cell.lines == [*lines[:6], "    pass", *lines[7:]]
    assert list(cell.notes) == [7]
    compile("\n".join(cell.lines), "<cell>", "exec")


def test_cell_magics_run_their_body_or_skip_the_cell() -> None:
    timed = python_lines("%%time\nx = 1\ny = 2")
    assert timed.lines == ["pass", "x = 1", "y = 2"] and "untimed" in timed.notes[1]
    shell = python_lines("%%bash\necho hi\nls")
    assert shell.lines == ["pass", "", ""] and "skipped" in shell.notes[1]
