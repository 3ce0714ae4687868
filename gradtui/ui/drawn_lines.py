"""A renderable drawn once at its widget's width, then painted a line at a time as it comes into view.

The gradients, parameters and optimizer panels show a table or a text with a row per
tensor: a real model's 150 parameters make hundreds of wrapped rows. In a ``Static``
Textual drew all of them twice for each new event (once to measure the height, once to
paint), and again whenever the screen was laid out: on a model of 152 parameters that was
140 ms for the parameters and 173 ms for the gradients at every draw, and a key took half
a second. ``DrawnLines`` draws its content once per width and style (a text only as far
as it comes into view), answers its height from that, and hands the compositor only the
lines it asks for. The drawings of the last few contents are kept (``KEPT``), so going
back and forth between two events, as ``c`` and ``C`` or ``e`` and ``E`` do, draws
nothing again.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from itertools import accumulate

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual.content import Content
from textual.geometry import Size
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual, visualize
from textual.widget import Widget

from gradtui.ui.one_line_table import OneLineTable

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
        self._drawing: _Drawing | None = None
        #: The width and style ``_drawing`` is at.
        self._drawn_at: tuple[int, Style] | None = None
        self._kept: OrderedDict[tuple[object, int, Style], _Drawing] = OrderedDict()

    def show(self, content: RenderableType, key: object = None) -> None:
        """Show ``content``; under the same ``key`` (not None) again, it is the same content."""
        self.content, self._key = content, key
        self._drawing = self._drawn_at = None
        self.refresh()

    def forget(self) -> None:
        """Drop the lines kept: the keys shown until now may mean other contents from here on."""
        self._kept.clear()

    def height_at(self, width: int) -> int:
        """How many lines the content takes at ``width``."""
        drawing = self._drawing_at(width)
        return 0 if drawing is None else drawing.height

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.height_at(width)

    def render_line(self, y: int) -> Strip:
        drawing = self._drawing_at(self.size.width)
        return Strip([], 0) if drawing is None else drawing.line(y)

    def _drawing_at(self, width: int) -> _Drawing | None:
        if width <= 0:
            return None
        style = self.visual_style
        if self._drawing is not None and self._drawn_at == (width, style):
            return self._drawing
        keyed = None if self._key is None else (self._key, width, style)
        drawing = self._kept.get(keyed) if keyed is not None else None
        if drawing is None:
            drawing = _Drawing(self, self.content, width, style)
            if keyed is not None:
                self._kept[keyed] = drawing
                while len(self._kept) > KEPT:
                    self._kept.popitem(last=False)
        elif keyed is not None:
            self._kept.move_to_end(keyed)
        self._drawing, self._drawn_at = drawing, (width, style)
        return drawing


def _below(strip: Strip, lines: int) -> Strip:
    """``strip`` with its text-selection offsets moved down ``lines`` lines of the text.

    Textual marks each segment with where its characters are in the content (``offset``:
    column, line), which mouse selection reads; a line drawn alone was line 0 of its own.
    """
    segments = []
    for text, style, control in strip:
        offset = style.meta.get("offset") if style is not None else None
        if offset is not None:
            style = style + RichStyle.from_meta({"offset": (offset[0], offset[1] + lines)})  # type: ignore[operator]
        segments.append(Segment(text, style, control))
    return Strip(segments, strip.cell_length)


class _Drawing:
    """One content at one width and style: its height now, its lines as they are asked for.

    A text is taken a line at a time (its ``\n``-separated lines wrap independently, as
    Textual wraps them): each line's height is worked out at once, which is what the
    scroll needs, and its rows are drawn only when one of them comes into view. On a
    model of 152 parameters the gradients' text has 1,962 rows: working out the heights
    took 67 ms, drawing all of them 204 ms. A ``OneLineTable`` needs no working out: its
    title is a text like any, and every line below it is one row, made and drawn only
    when it comes into view. Anything else (a Rich table) is drawn whole.
    """

    def __init__(self, widget: Widget, content: RenderableType, width: int, style: Style) -> None:
        self._widget, self._width, self._style = widget, width, style
        self._drawn: dict[int, list[Strip]] = {}
        self._table: OneLineTable | None = None
        self._widths: list[int] = []
        console = widget.app.console
        if isinstance(content, OneLineTable):
            self._table, self._widths = content, content.widths(width)
            title = content.title_text()
            # The lines below the title are made as they come into view.
            self._pieces: list[Visual | None] = [
                None if title is None else Content.from_rich_text(title, console=console)]
            self._pieces += [None] * content.lines_below_title
            heights = [0 if title is None else self._measured(0)] + [1] * content.lines_below_title
        elif isinstance(content, Text):
            self._pieces = [Content.from_rich_text(line, console=console)
                            for line in content.split("\n", allow_blank=True)]
            heights = [self._measured(i) for i in range(len(self._pieces))]
        else:
            whole = visualize(widget, content)
            self._pieces = [whole]
            self._drawn[0] = Visual.to_strips(widget, whole, width, None, style)
            heights = [len(self._drawn[0])]
        #: Where each piece's first row is, and where the last one ends.
        self._starts = list(accumulate(heights, initial=0))
        self.height = self._starts[-1]

    def _measured(self, i: int) -> int:
        """Piece ``i``'s height, with the widget's styles, as Textual measures its own content."""
        piece = self._pieces[i]
        assert piece is not None
        return piece.get_height(self._widget.styles, self._width)  # type: ignore[arg-type]

    def line(self, y: int) -> Strip:
        if not 0 <= y < self.height:
            return Strip([], 0)
        i = bisect_right(self._starts, y) - 1
        rows = self._drawn.get(i)
        if rows is None:
            piece = self._pieces[i]
            if piece is None:
                assert self._table is not None
                text = self._table.line(self._widths, i - 1)
                piece = Content.from_rich_text(text, console=self._widget.app.console)
            rows = Visual.to_strips(self._widget, piece, self._width, None, self._style)
            self._drawn[i] = rows = [_below(strip, i) for strip in rows] if i else rows
        row = y - self._starts[i]
        return rows[row] if row < len(rows) else Strip([], 0)
