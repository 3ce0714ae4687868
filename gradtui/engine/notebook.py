"""A Jupyter notebook as a script: its code cells, in order, as "Restart and run all" runs them.

The notebook file is read with nbformat (any version it reads, upgraded to 4). Its cells
become one text in the percent format (``gradtui.model.cells.notebook_text``): that text
is the source the screen shows, the recording keeps and tracebacks quote, and each code
cell is compiled at its lines there, so every event points at the cell's own line. A
cell's IPython-only lines are rewritten first (``gradtui.engine.ipython_lines``). A cell
whose last statement is a bare expression gets that expression compiled apart, as
IPython does, so its value is shown like Jupyter's ``Out[n]`` (``sys.displayhook``;
a trailing ``;`` hides it, as in Jupyter). Imports no torch.

Cells are labelled by the execution counts the notebook kept when they name every code
cell once (so ``In [24]`` is the cell the user sees as ``In [24]``); otherwise 1, 2, 3 …
in order, as a fresh "Restart and run all" would number them.
"""

from __future__ import annotations

import ast
import json
import linecache
import os
from pathlib import Path
from typing import Any

from gradtui.engine.ipython_lines import python_lines
from gradtui.engine.program import Part, Script, ScriptError
from gradtui.model.cells import notebook_text, parse_cells


def load_notebook(path: str) -> Script:
    """``path`` read, its cells compiled; every problem is one ``ScriptError`` line naming the cell."""
    cells = _read_cells(path)
    code_cells = [cell for cell in cells if cell["cell_type"] == "code"]
    labels = _labels(code_cells)
    layout: list[tuple[str, str, str]] = []
    for cell in cells:
        kind = cell["cell_type"] if cell["cell_type"] in ("code", "markdown") else "raw"
        layout.append((kind, labels.get(id(cell), ""), _text(cell.get("source", ""))))
    source = notebook_text(layout)
    cell_map = parse_cells(source, notebook=True)
    # The text starts with a marker, and cells' own lines never read as one: a cell each.
    assert cell_map is not None and len(cell_map.cells) == len(layout)
    filename = os.path.abspath(path)
    parts: list[Part] = []
    line_notes: dict[int, str] = {}
    runs = source.split("\n")  # the text with each cell's lines as they run
    for (kind, label, text), placed in zip(layout, cell_map.cells):
        if kind != "code" or not text.strip():
            continue
        python = python_lines(text)
        line_notes.update({placed.first + n - 1: note for n, note in python.notes.items()})
        runs[placed.first - 1: placed.first - 1 + len(python.lines)] = python.lines
        parts.extend(_compile_cell(path, filename, label, "\n".join(python.lines), placed.first, text))
    # Tracebacks, warnings and the engine's own reading of lines find the cells' text, not the JSON.
    lines = [line + "\n" for line in source.split("\n")]
    linecache.cache[filename] = (len(source), None, lines, filename)
    return Script(path=path, source=source, parts=tuple(parts), line_notes=line_notes, cells=cell_map,
                  python="\n".join(runs))


def _read_cells(path: str) -> list[dict[str, Any]]:
    try:
        import nbformat
    except ImportError:
        raise ScriptError(f"{path}: reading notebooks needs nbformat (pip install nbformat)") from None
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: is not a notebook (not UTF-8 text)") from None
    try:
        json.loads(raw)
    except ValueError as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ScriptError(f"{path}: is not a notebook (not valid JSON{where})") from None
    try:
        notebook = nbformat.reads(raw, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat's own errors have no common base worth naming
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScriptError(f"{path}: is not a notebook nbformat can read ({first})") from None
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) and "cell_type" in c for c in cells):
        raise ScriptError(f"{path}: is not a notebook nbformat can read (no list of cells)")
    if not any(c["cell_type"] == "code" and _text(c.get("source", "")).strip() for c in cells):
        raise ScriptError(f"{path}: the notebook has no code to run")
    return cells


def _text(source: object) -> str:
    """A cell's source as one text with ``\n`` line breaks (a notebook written on Windows may hold ``\r\n``)."""
    text = "".join(source) if isinstance(source, list) else str(source)
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def _labels(code_cells: list[dict[str, Any]]) -> dict[int, str]:
    counts = [cell.get("execution_count") for cell in code_cells]
    kept = all(isinstance(c, int) for c in counts) and len(set(counts)) == len(counts)
    numbers = counts if kept else list(range(1, len(code_cells) + 1))
    return {id(cell): f"In [{n}]" for cell, n in zip(code_cells, numbers)}


def _compile_cell(path: str, filename: str, label: str, python: str, first: int, shown: str) -> list[Part]:
    """A cell's code, at its lines in the notebook's text; the last bare expression apart."""
    try:
        tree = ast.parse(python, filename, "exec")
    except SyntaxError as exc:
        line = f", line {exc.lineno}" if exc.lineno else ""
        raise ScriptError(f"{path}: {label}{line}: {type(exc).__name__}: {exc.msg}") from None
    except ValueError as exc:
        raise ScriptError(f"{path}: {label}: cannot be compiled ({exc})") from None
    ast.increment_lineno(tree, first - 1)
    body = tree.body
    shown_last = isinstance(body[-1], ast.Expr) and not _ends_quiet(shown) if body else False
    parts: list[Part] = []
    try:  # some errors only the compiler finds: 'await' outside a function, 'return' at the top
        if shown_last:
            head, last = body[:-1], body[-1]
            if head:
                module = ast.Module(body=head, type_ignores=[])
                parts.append(Part(compile(module, filename, "exec", dont_inherit=True)))
            single = ast.Interactive(body=[last])
            parts.append(Part(compile(single, filename, "single", dont_inherit=True),
                              out=label.replace("In ", "Out")))
        elif body:
            parts.append(Part(compile(tree, filename, "exec", dont_inherit=True)))
    except SyntaxError as exc:
        line = f", line {exc.lineno - first + 1}" if exc.lineno else ""
        raise ScriptError(f"{path}: {label}{line}: {type(exc).__name__}: {exc.msg}") from None
    return parts


def _ends_quiet(source: str) -> bool:
    """A cell whose last line ends in ``;`` shows no value (Jupyter's rule)."""
    lines = [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return bool(lines) and lines[-1].split("#", 1)[0].rstrip().endswith(";")
