"""Cells: a notebook's or a percent-format script's code as the user sees it, cell by cell.

A notebook runs as one text in the percent format (the ``# %%`` markers of VS Code,
Spyder and jupytext): ``gradtui.engine.notebook`` writes each code cell after a
``# %% In [n]`` marker and each markdown cell as ``# %% [markdown]`` and comment lines,
so that line numbers in that text are the run's line numbers, and the recording keeps
that text as the notebook's source. The same parser then reads a notebook's text and a
hand-written ``# %%`` script, and answers the questions the screen, the trace and the
tracebacks ask: which cell a line is in, its label (``In [24]``), the line within the
cell, and where cells begin. Only a notebook's locations are given per cell
(``In [24], line 2``): a percent script is a file on disk, where the editor counts lines.
Must not import torch or textual.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

#: How a notebook's source is named: its file name ends so.
NOTEBOOK_SUFFIX: Final = ".ipynb"

#: ``# %%`` (or ``#%%``) starts a cell; the rest of the line is its title and its kind in brackets.
_MARKER = re.compile(r"^#\s?%%(?!%)(?P<rest>.*)$")
_KIND = re.compile(r"\[(?P<kind>markdown|md|raw)\]")
_LABEL = re.compile(r"^In \[(?P<count>[^\]]*)\]$")
_TAG = re.compile(r"<[^>]*>")
_HEADING = re.compile(r"^#{1,6}\s+")


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell: its kind, what the screen calls it, and the lines it spans in the text."""

    kind: str  # "code", "markdown" or "raw"
    #: ``In [24]`` for a code cell (``In [3]``, its place among the code cells, where no count was kept).
    label: str
    #: The marker's title; for a markdown cell its first line of text, without markup (may be empty).
    title: str
    #: The marker's line; 0 for code before the first marker.
    marker: int
    #: The cell's first and last line (``last < first`` for an empty cell).
    first: int
    last: int

    @property
    def is_code(self) -> bool:
        return self.kind == "code"


@dataclass(frozen=True, slots=True)
class CellMap:
    """The cells of one text, in order, and the questions asked of them."""

    cells: tuple[Cell, ...]
    #: A notebook's text: locations are given per cell.
    notebook: bool
    #: Lines of the text, to tell where a cell's top-level statements begin.
    lines: tuple[str, ...]
    #: Where each cell starts (its marker, or its first line): what ``index`` bisects.
    starts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", tuple(cell.marker or cell.first for cell in self.cells))

    def index(self, line: int) -> int | None:
        """The position of the cell that holds ``line`` (a marker belongs to the cell it opens)."""
        i = bisect.bisect_right(self.starts, line) - 1
        return i if i >= 0 else None

    def at(self, line: int) -> Cell | None:
        i = self.index(line)
        return None if i is None else self.cells[i]

    def line_in_cell(self, line: int) -> int | None:
        cell = self.at(line)
        return None if cell is None or line < cell.first else line - cell.first + 1

    def place(self, line: int) -> str | None:
        """``In [24], line 2`` in a notebook's code cell; None elsewhere (the file's own line is meant)."""
        found = self._in_code_cell(line)
        return None if found is None else f"{found[0]}, line {found[1]}"

    def short_place(self, line: int) -> str | None:
        """``In [24] L2``: ``place`` for a column of locations."""
        found = self._in_code_cell(line)
        return None if found is None else f"{found[0]} L{found[1]}"

    def _in_code_cell(self, line: int) -> tuple[str, int] | None:
        """(label, line within the cell) of a line of a notebook's code cell."""
        cell, within = self.at(line), self.line_in_cell(line)
        if not self.notebook or cell is None or not cell.is_code or within is None:
            return None
        return cell.label, within

    def top_lines(self, cells: range | list[int]) -> frozenset[int]:
        """The lines where top-level statements of the cells at these positions may begin.

        A statement at the top of a cell starts in column 0; a line event there means the
        run is in that cell, not in a function defined there and called from elsewhere.
        """
        out: set[int] = set()
        for i in cells:
            cell = self.cells[i]
            if not cell.is_code:
                continue
            for number in range(cell.first, cell.last + 1):
                text = self.lines[number - 1] if 0 < number <= len(self.lines) else ""
                if text and not text[0].isspace() and text[0] not in "#)]}":
                    out.add(number)
        return frozenset(out)


def parse_cells(text: str, *, notebook: bool = False) -> CellMap | None:
    """The cells of ``text``; None when it has no ``# %%`` marker (an ordinary script)."""
    return _parse(text, notebook)


@lru_cache(maxsize=16)
def _parse(text: str, notebook: bool) -> CellMap | None:
    lines = tuple(text.split("\n"))  # Python's own line breaks: splitlines() would also break at \x0c or \u2028
    markers = [(number, m) for number, line in enumerate(lines, start=1) if (m := _MARKER.match(line))]
    if not markers:
        return None
    cells: list[Cell] = []
    code_count = 0
    if any(line.strip() for line in lines[: markers[0][0] - 1]):
        code_count += 1
        cells.append(Cell("code", f"In [{code_count}]", "", 0, 1, markers[0][0] - 1))
    for i, (number, m) in enumerate(markers):
        last = markers[i + 1][0] - 1 if i + 1 < len(markers) else len(lines)
        while last > number and not lines[last - 1].strip():
            last -= 1  # the blank lines between cells belong to none
        rest = m.group("rest")
        kind_match = _KIND.search(rest)
        kind = "code" if kind_match is None else ("markdown" if kind_match.group("kind") in ("markdown", "md")
                                                  else "raw")
        title = _KIND.sub("", rest).strip()
        if kind == "code":
            code_count += 1
            label_match = _LABEL.match(title)
            label = title if label_match and label_match.group("count").strip() else f"In [{code_count}]"
            cells.append(Cell("code", label, "" if label_match else title, number, number + 1, last))
        else:
            heading = title or _first_text(lines[number:last])
            cells.append(Cell(kind, "", heading, number, number + 1, last))
    return CellMap(tuple(cells), notebook, lines)


def _first_text(lines: tuple[str, ...]) -> str:
    """A markdown cell's first line with words in it, without the comment mark, headings' #s and HTML tags."""
    for line in lines:
        text = line[1:] if line.startswith("#") else line
        text = _HEADING.sub("", _TAG.sub("", text).strip()).strip()
        if text:
            return text
    return ""


def is_notebook(file: str) -> bool:
    return file.endswith(NOTEBOOK_SUFFIX)


def cells_of(file: str, sources: Mapping[str, str]) -> CellMap | None:
    """The cells of the file a timeline names, from the text it kept; None for an ordinary script."""
    text = sources.get(file)
    return None if text is None else parse_cells(text, notebook=is_notebook(file))


def place(file: str, line: int, sources: Mapping[str, str]) -> str:
    """Where ``line`` of ``file`` is, as the user finds it: ``In [24], line 2`` in a notebook, else ``line 13``."""
    cells = cells_of(file, sources) if is_notebook(file) else None
    return (cells.place(line) if cells is not None else None) or f"line {line}"


def short_place(file: str, line: int, sources: Mapping[str, str]) -> str:
    """``place`` for a column or a stack: ``In [24] L2`` in a notebook, else ``L13``."""
    cells = cells_of(file, sources) if is_notebook(file) else None
    return (cells.short_place(line) if cells is not None else None) or f"L{line}"


def notebook_text(cells: list[tuple[str, str, str]]) -> str:
    """The percent-format text of a notebook's cells ``(kind, label, source)``, which ``parse_cells`` reads back.

    A code cell's lines follow its ``# %% In [n]`` marker unchanged; a markdown or raw
    cell's lines become comments. One blank line separates cells.
    """
    parts: list[str] = []
    for kind, label, source in cells:
        if kind == "code":
            body = [_unmarked(line) for line in source.split("\n")]
            parts.append("\n".join([f"# %% {label}".rstrip(), *body]))
        else:
            tag = "[markdown]" if kind == "markdown" else "[raw]"
            body = [_unmarked(f"# {line}".rstrip()) for line in source.split("\n")]
            parts.append("\n".join([f"# %% {tag}", *body]))
    return "\n\n".join(parts) + "\n"


def _unmarked(line: str) -> str:
    """A cell's own line that reads as a marker (a ``# %%`` comment) gets a second space, so it stays in its cell."""
    return "#  " + line[1:].lstrip() if _MARKER.match(line) else line
