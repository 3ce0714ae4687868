"""A renderable drawn once at its widget's width, then painted a line at a time as it comes into view.

The gradients, parameters and optimizer panels show a table or a text with a row per
tensor: a real model's 150 parameters make hundreds of wrapped rows. In a ``Static``
Textual drew all of them twice for each new event (once to measure the height, once to
paint), and again whenever the screen was laid out: on a model of 151 parameters that was
140 ms for the parameters and 173 ms for the gradients at every draw, and a key took half
a second. ``DrawnLines`` draws its content once per width and style, answers its height
from those lines, and hands the compositor only the lines it asks for. The lines of the
last few contents are kept (``KEPT``), so going back and forth between two events, as
``c`` and ``C`` or ``e`` and ``E`` do, draws nothing again.
"""

from __future__ import annotations

from collections import OrderedDict

from rich.console import RenderableType
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual, visualize
from textual.widget import Widget

#: Contents whose lines are kept, newest last.
KEPT = 8


class DrawnLines(Widget):
    """Shows one renderable, as a ``Static`` would, drawn once per width and kept by a key."""

    DEFAULT_CSS = """
    DrawnLines { height: auto; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        #: The renderable shown, and the key it was shown under (None: not kept).
        self.content: RenderableType = Text("")
        self._key: object = None
        self._lines: list[Strip] = []
        #: The width and style ``_lines`` were drawn at (None: not drawn yet).
        self._drawn_at: tuple[int, Style] | None = None
        self._kept: OrderedDict[tuple[object, int, Style], list[Strip]] = OrderedDict()

    def show(self, content: RenderableType, key: object = None) -> None:
        """Show ``content``; under the same ``key`` (not None) again, it is the same content."""
        self.content, self._key = content, key
        self._drawn_at = None
        self.refresh()

    def forget(self) -> None:
        """Drop the lines kept: the keys shown until now may mean other contents from here on."""
        self._kept.clear()

    def height_at(self, width: int) -> int:
        """How many lines the content takes at ``width``."""
        return len(self._lines_at(width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.height_at(width)

    def render_line(self, y: int) -> Strip:
        lines = self._lines_at(self.size.width)
        return lines[y] if 0 <= y < len(lines) else Strip([], 0)

    def _lines_at(self, width: int) -> list[Strip]:
        if width <= 0:
            return []
        style = self.visual_style
        if self._drawn_at == (width, style):
            return self._lines
        keyed = None if self._key is None else (self._key, width, style)
        lines = self._kept.get(keyed) if keyed is not None else None
        if lines is None:
            lines = Visual.to_strips(self, visualize(self, self.content), width, None, style)
            if keyed is not None:
                self._kept[keyed] = lines
                while len(self._kept) > KEPT:
                    self._kept.popitem(last=False)
        elif keyed is not None:
            self._kept.move_to_end(keyed)
        self._lines, self._drawn_at = lines, (width, style)
        return lines
