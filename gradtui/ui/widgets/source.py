"""The source panel: the file the current event is in, its line marked, breakpoints shown."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rich.syntax import Syntax
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

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
        mark = Text(BREAKPOINT, style="bold red") if number in breakpoints else Text(" ")
        arrow = Text(CURRENT if number == current else " ", style="bold yellow")
        gutter = Text(f"{number:>{width}} ", style="bold" if number == current else "dim")
        row = Text.assemble(mark, arrow, gutter, line.copy())
        if number == current:
            row.stylize("on #3a3a00")
        out.append_text(row)
        out.append("\n")
    return out


class SourceView(ScrollableContainer):
    """The script's code with the line of the event on screen; follows into other files."""

    DEFAULT_CSS = """
    SourceView > Static { width: auto; min-width: 100%; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._body = Static("", expand=False)
        self._key: tuple[object, ...] | None = None

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
            self._body.update(Text(f"(the source of {file} is not available)", style="italic"))
            return
        self._body.update(render_source(text, event.line, marks))
        self.call_after_refresh(self._center, event.line)

    def _center(self, line: int) -> None:
        target = max(0, line - 1 - max(1, self.scrollable_content_region.height) // 2)
        self.scroll_to(y=target, animate=False, immediate=True)
