"""The source panel: the file the current event is in, its line marked, breakpoints shown.

A notebook, or a script with ``# %%`` cell markers, is shown cell by cell
(``gradtui.ui.source_rows``): each code cell under its ``In [n]:`` label, each markdown
cell as one dim heading. A notebook's lines are numbered within their cell, as Jupyter
does; a script's keep the file's numbers, which its editor shows.

The panel draws only the rows on screen, one at a time (Textual's line API), and keeps
each row it drew by what its look depends on (``SourceRows.state``): stepping through a
training loop comes back to the same few lines, and a key costs the same in a file of
thousands of lines as in one of ten. Moving the mark within a file leaves the panel's
size as it was, so the screen is not laid out again; another file is.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.content import Content
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual

from gradtui.ui.source_rows import BREAKPOINT, CURRENT, SourceRows, rows_of
from gradtui.ui.view import View

__all__ = ["BREAKPOINT", "CURRENT", "SourceView", "render_source", "source_text"]

#: Drawn rows kept at most: a screenful in each of the states a loop's lines go through.
_KEPT_ROWS = 4096


def source_text(view: View, file: str) -> str | None:
    """The file's text as the run saw it; from disk for timelines recorded without it."""
    text = view.sources.get(file)
    if text is None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    return text


def render_source(text: str, current: int | None, breakpoints: set[int]) -> Text:
    """Numbered, highlighted lines of a plain script; the current one marked ``▶`` and shaded, breakpoints ``●``."""
    return SourceRows(text).render(current, breakpoints)


class SourceView(ScrollView):
    """The script's code with the line of the event on screen; follows into other files."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rows: SourceRows | None = None
        self._current: int | None = None
        self._marks: frozenset[int] = frozenset()
        self._key: tuple[object, ...] | None = None
        #: Rows drawn, by (row, state); valid for ``_rows`` in the style ``_drawn_in``.
        self._drawn: dict[tuple[int, tuple[bool, bool]], Strip] = {}
        self._drawn_in: Style | None = None

    def shown_text(self) -> Text:
        """Everything the panel shows, scrolled into view or not, as one text (for tests and tools)."""
        if self._rows is None:
            return Text("")
        return self._rows.render(self._current, self._marks)

    def show(self, view: View) -> None:
        event = view.current
        if event is None:
            return
        file = event.file
        marks = frozenset(line for f, line in view.breakpoints if f == file)
        key = (file, event.line, marks)
        if key == self._key:
            return
        self._key = key
        self.border_title = f"Source · {file}"
        text = source_text(view, file)
        if text is None:
            self._put(SourceRows.message(Text(f"(the source of {file} is not available)", style="italic")), None,
                      frozenset())
            return
        rows = rows_of(file, text)
        cells = rows.cells
        if cells is not None:
            cell = cells.at(event.line)
            if cell is not None and cell.is_code:
                self.border_title = f"Source · {file} · {cell.label}"
        self._put(rows, event.line, marks)

    def _put(self, rows: SourceRows, current: int | None, marks: frozenset[int]) -> None:
        """Show ``rows`` with ``current`` in the middle: at once when the panel keeps its size
        (one frame per key), else once the layout has made room."""
        if rows is not self._rows:
            self._rows = rows
            self._drawn.clear()
        self._current, self._marks = current, marks
        size = Size(rows.width, rows.height)
        row = rows.row_of(current)
        if size != self.virtual_size:
            self.virtual_size = size  # lays the screen out
            self.call_after_refresh(self._center, row)
        else:
            self._center(row)
        self.refresh()

    def _center(self, row: int) -> None:
        target = max(0, row - max(1, self.scrollable_content_region.height) // 2)
        self.scroll_to(y=target, animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        # Cropped, not padded: Textual pads each line to the panel's width in its background,
        # as it did for the text this panel showed before it drew rows one at a time.
        scroll_x, scroll_y = self.scroll_offset
        rows, row = self._rows, scroll_y + y
        if rows is None or row >= rows.height:
            return Strip([], 0)
        width = self.scrollable_content_region.width
        return self._row_strip(rows, row, self.visual_style).crop(scroll_x, scroll_x + width)

    def _row_strip(self, rows: SourceRows, row: int, style: Style) -> Strip:
        """Row ``row`` drawn at its own width: from the rows kept when its look is one drawn before."""
        if style != self._drawn_in:  # another theme: every row looks different
            self._drawn.clear()
            self._drawn_in = style
        key = (row, rows.state(row, self._current, self._marks))
        strip = self._drawn.get(key)
        if strip is None:
            if len(self._drawn) >= _KEPT_ROWS:
                self._drawn.clear()
            content = Content.from_rich_text(rows.text(row, self._current, self._marks), console=self.app.console)
            width = content.cell_length
            drawn = Visual.to_strips(self, content, width, 1, style) if width else []
            strip = self._drawn[key] = drawn[0] if drawn else Strip([], 0)
        return strip
