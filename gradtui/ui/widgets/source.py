"""The source panel: the file the current event is in, its line marked, breakpoints shown.

A notebook, or a script with ``# %%`` cell markers, is shown cell by cell
(``gradtui.model.cells``): each code cell under its ``In [n]:`` label, each markdown cell
as one dim heading. A notebook's lines are numbered within their cell, as Jupyter does;
a script's keep the file's numbers, which its editor shows.

Stepping moves the mark from line to line of the same file, which leaves the text's
shape (its rows and their widths) as it was: the panel then repaints without laying
the screen out again.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rich.cells import cell_len
from rich.syntax import Syntax
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from gradtui.model.cells import CellMap, cells_of
from gradtui.ui.view import View

BREAKPOINT = "●"
CURRENT = "▶"


def source_text(view: View, file: str) -> str | None:
    """The file's text as the run saw it; from disk for timelines recorded without it."""
    text = view.sources.get(file)
    if text is None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    return text


@lru_cache(maxsize=32)
def highlighted_lines(text: str) -> tuple[Text, ...]:
    """The file's lines with Python highlighting; cached, as stepping redraws the same file."""
    highlighted = Syntax("", "python", theme="ansi_dark").highlight(text.rstrip("\n") or " ")
    return tuple(highlighted.split("\n", allow_blank=True))


def render_source(text: str, current: int | None, breakpoints: set[int]) -> Text:
    """Numbered, highlighted lines; the current one marked ``▶`` and shaded, breakpoints ``●``."""
    lines = highlighted_lines(text)
    width = len(str(len(lines)))
    out = Text(no_wrap=True, overflow="ignore")
    for number, line in enumerate(lines, start=1):
        out.append_text(_code_row(line, number, number, width, current, breakpoints))
        out.append("\n")
    return out


def render_cells(text: str, cells: CellMap, current: int | None, breakpoints: set[int]) -> tuple[Text, int]:
    """The text cell by cell, and the row the current line is on (to scroll it into view)."""
    lines = highlighted_lines(text)
    longest = max((cell.last - cell.first + 1 if cells.notebook else cell.last for cell in cells.cells), default=1)
    width = len(str(max(1, longest)))
    out = Text(no_wrap=True, overflow="ignore")
    row = current_row = 0
    for i, cell in enumerate(cells.cells):
        if not cell.is_code:
            if cell.title:
                out.append(f"{'':>{width + 3}}{cell.title}\n", style="dim bold")
                row += 1
            continue
        if i:
            out.append("\n")
            row += 1
        here = current is not None and cell.first <= current <= cell.last
        label = Text.assemble(Text(f"{'':>{width + 3}}{cell.label}:", style="bold blue" if here else "blue"),
                              Text(f" {cell.title}" if cell.title else "", style="dim"))
        out.append_text(label)
        out.append("\n")
        row += 1
        for number in range(cell.first, cell.last + 1):
            shown = number - cell.first + 1 if cells.notebook else number
            line = lines[number - 1] if number <= len(lines) else Text("")
            if number == current:
                current_row = row
            out.append_text(_code_row(line, number, shown, width, current, breakpoints))
            out.append("\n")
            row += 1
    return out, current_row


def text_shape(text: Text) -> tuple[int, ...] | None:
    """The width of each row of an unwrapped ``text``: what its size on screen depends on (None if it wraps)."""
    if not text.no_wrap:
        return None
    return tuple(cell_len(row) for row in text.plain.split("\n"))


def _code_row(line: Text, number: int, shown: int, width: int, current: int | None, breakpoints: set[int]) -> Text:
    mark = Text(BREAKPOINT, style="bold red") if number in breakpoints else Text(" ")
    arrow = Text(CURRENT if number == current else " ", style="bold yellow")
    gutter = Text(f"{shown:>{width}} ", style="bold" if number == current else "dim")
    row = Text.assemble(mark, arrow, gutter, line.copy())
    if number == current:
        row.stylize("on #3a3a00")
    return row


class SourceView(ScrollableContainer):
    """The script's code with the line of the event on screen; follows into other files."""

    DEFAULT_CSS = """
    SourceView > Static { width: auto; min-width: 100%; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._body = Static("", expand=False)
        self._key: tuple[object, ...] | None = None
        self._shape: tuple[int, ...] | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, view: View) -> None:
        event = view.current
        if event is None:
            return
        file = event.file
        marks = {line for f, line in view.breakpoints if f == file}
        key = (file, event.line, frozenset(marks))
        if key == self._key:
            return
        self._key = key
        self.border_title = f"Source · {file}"
        text = source_text(view, file)
        if text is None:
            self._update(Text(f"(the source of {file} is not available)", style="italic"))
            return
        cells = cells_of(file, {file: text})
        if cells is None:
            self._show_at(render_source(text, event.line, marks), event.line - 1)
            return
        cell = cells.at(event.line)
        if cell is not None and cell.is_code:
            self.border_title = f"Source · {file} · {cell.label}"
        body, row = render_cells(text, cells, event.line, marks)
        self._show_at(body, row)

    def _update(self, body: Text) -> bool:
        """Show ``body``; True if it has another shape, and so the screen is laid out again."""
        # A Static lays out the whole screen again on each update; one the same size need not.
        shape = text_shape(body)
        relayout = shape is None or shape != self._shape
        self._body.update(body, layout=relayout)
        self._shape = shape
        return relayout

    def _show_at(self, body: Text, row: int) -> None:
        """Show ``body`` with ``row`` in the middle: at once when its shape is the one on screen
        (one frame per key), else once the layout has made room for it."""
        if self._update(body):
            self.call_after_refresh(self._center, row)
        else:
            self._center(row)

    def _center(self, row: int) -> None:
        target = max(0, row - max(1, self.scrollable_content_region.height) // 2)
        self.scroll_to(y=target, animate=False, immediate=True)
