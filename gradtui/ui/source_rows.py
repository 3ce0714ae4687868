"""The rows of one source file as the source panel lays them out, each drawn on its own.

A training script runs to hundreds or thousands of lines, and the panel shows a screenful.
Drawing the whole file as one text on every key cost time in proportion to its length
(a 1,640-line script: 86 ms to build the text and about 300 ms for Textual to draw it,
on every key that moved the ``▶``). ``SourceRows`` is built once per file's text; a row is
made only when it is on screen (``text``), and what its look depends on (``state``) is
small enough to key a cache of drawn rows by.

A script's rows are its lines. A notebook, or a script with ``# %%`` cell markers
(``gradtui.model.cells``), is shown cell by cell: each code cell under its ``In [n]:``
label, a blank row between cells, each markdown cell as one dim heading. As the panel
has always shown it, every row ends with a newline, so one empty row follows the last.
"""

from __future__ import annotations

from functools import lru_cache

from rich.cells import cell_len
from rich.syntax import Syntax
from rich.text import Text

from gradtui.model.cells import Cell, CellMap, cells_of

BREAKPOINT = "●"
CURRENT = "▶"

#: What a row is: a line of code (its line number), a cell's label or heading (the cell's
#: position), the blank row between two cells or after the last, or a note in place of a
#: file that could not be read.
_CODE, _LABEL, _TITLE, _BLANK, _NOTE = range(5)


@lru_cache(maxsize=32)
def highlighted_lines(text: str) -> tuple[Text, ...]:
    """The file's lines with Python highlighting; cached, as stepping redraws the same file."""
    highlighted = Syntax("", "python", theme="ansi_dark").highlight(text.rstrip("\n") or " ")
    return tuple(highlighted.split("\n", allow_blank=True))


@lru_cache(maxsize=16)
def rows_of(file: str, text: str) -> SourceRows:
    """The rows of ``file`` with this ``text``: built once, while the file's text stays the same."""
    return SourceRows(text, cells_of(file, {file: text}))


class SourceRows:
    """Each row of a file's text: what it shows, how wide it is, and what its look depends on."""

    def __init__(self, text: str, cells: CellMap | None = None) -> None:
        self.lines = highlighted_lines(text)
        self._cells = cells
        kinds: list[tuple[int, int, int]] = []  # (kind, line number or cell position, line number shown)
        if cells is None:
            self.gutter = len(str(len(self.lines)))
            kinds = [(_CODE, number, number) for number in range(1, len(self.lines) + 1)]
        else:
            longest = max((cell.last - cell.first + 1 if cells.notebook else cell.last for cell in cells.cells),
                          default=1)
            self.gutter = len(str(max(1, longest)))
            for i, cell in enumerate(cells.cells):
                if not cell.is_code:
                    if cell.title:
                        kinds.append((_TITLE, i, 0))
                    continue
                if i:
                    kinds.append((_BLANK, i, 0))
                kinds.append((_LABEL, i, 0))
                kinds.extend((_CODE, number, number - cell.first + 1 if cells.notebook else number)
                             for number in range(cell.first, cell.last + 1))
        kinds.append((_BLANK, -1, 0))
        self._kinds = tuple(kinds)
        self._row_of = {number: row for row, (kind, number, _) in enumerate(kinds) if kind == _CODE}
        self._widths: tuple[int, ...] | None = None
        self._note: Text | None = None

    @classmethod
    def message(cls, note: Text) -> SourceRows:
        """One row that says ``note``: shown where a file's text is not available."""
        rows = cls("")
        rows._kinds, rows._row_of, rows._note = ((_NOTE, 0, 0),), {}, note
        return rows

    @property
    def cells(self) -> CellMap | None:
        """The file's cells, for a notebook or a ``# %%`` script; None for a plain script."""
        return self._cells

    @property
    def height(self) -> int:
        return len(self._kinds)

    @property
    def width(self) -> int:
        """The widest row, in cells: how wide the panel's content is."""
        return max(self.widths, default=0)

    @property
    def widths(self) -> tuple[int, ...]:
        """Each row's width in cells, as ``text`` draws it (the marks never change a row's width)."""
        if self._widths is None:
            self._widths = tuple(self._width(kind, number) for kind, number, _ in self._kinds)
        return self._widths

    def _width(self, kind: int, number: int) -> int:
        pad = self.gutter + 3  # "●▶", the number, a space; a label's and a heading's indent
        if kind == _CODE:
            return pad + (cell_len(self.lines[number - 1].plain) if number <= len(self.lines) else 0)
        if kind == _LABEL:
            cell = self._cell_at(number)
            return pad + cell_len(cell.label) + 1 + (1 + cell_len(cell.title) if cell.title else 0)
        if kind == _TITLE:
            return pad + cell_len(self._cell_at(number).title)
        if kind == _NOTE and self._note is not None:
            return cell_len(self._note.plain)
        return 0

    def row_of(self, line: int | None) -> int:
        """The row that shows ``line`` (the first row if none does)."""
        return self._row_of.get(line, 0) if line is not None else 0

    def state(self, row: int, current: int | None, marks: frozenset[int]) -> tuple[bool, bool]:
        """What row ``row``'s look depends on, beyond the text: (marked current, has a breakpoint)."""
        kind, number, _ = self._kinds[row]
        if kind == _CODE:
            return number == current, number in marks
        if kind == _LABEL:
            return self._holds(number, current), False
        return False, False

    def text(self, row: int, current: int | None, marks: frozenset[int]) -> Text:
        """Row ``row`` as the panel shows it, with ``current`` marked ``▶`` and ``marks`` as ``●``."""
        kind, number, shown = self._kinds[row]
        pad = " " * (self.gutter + 3)
        if kind == _CODE:
            line = self.lines[number - 1] if number <= len(self.lines) else Text("")
            return _code_row(line, number, shown, self.gutter, current, marks)
        if kind == _LABEL:
            cell = self._cell_at(number)
            here = self._holds(number, current)
            return Text.assemble(Text(f"{pad}{cell.label}:", style="bold blue" if here else "blue"),
                                 Text(f" {cell.title}" if cell.title else "", style="dim"))
        if kind == _TITLE:
            return Text(f"{pad}{self._cell_at(number).title}", style="dim bold")
        if kind == _NOTE and self._note is not None:
            return self._note.copy()
        return Text("")

    def render(self, current: int | None, marks: frozenset[int] | set[int]) -> Text:
        """Every row as one text, each ending in a newline: for a view of the whole file at once."""
        marks = frozenset(marks)
        out = Text(no_wrap=True, overflow="ignore")
        # The empty row after the last is the newline the last row ends with.
        rows = self.height - 1 if self._kinds[-1][0] == _BLANK else self.height
        for row in range(rows):
            out.append_text(self.text(row, current, marks))
            out.append("\n")
        return out

    def _cell_at(self, index: int) -> Cell:
        assert self._cells is not None
        return self._cells.cells[index]

    def _holds(self, index: int, current: int | None) -> bool:
        cell = self._cell_at(index)
        return current is not None and cell.first <= current <= cell.last


def _code_row(line: Text, number: int, shown: int, width: int, current: int | None,
              breakpoints: frozenset[int]) -> Text:
    mark = Text(BREAKPOINT, style="bold red") if number in breakpoints else Text(" ")
    arrow = Text(CURRENT if number == current else " ", style="bold yellow")
    gutter = Text(f"{shown:>{width}} ", style="bold" if number == current else "dim")
    row = Text.assemble(mark, arrow, gutter, line.copy())
    if number == current:
        row.stylize("on #3a3a00")
    return row
