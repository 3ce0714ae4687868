"""A table of one line per row, whose rows are drawn only as they come into view.

A model of 150 parameter tensors makes a parameters table of 150 rows. Rich draws a
table cell by cell, about 70 µs a cell whatever its length, and wraps every cell to
learn each row's height: the whole table cost 65-75 ms at every event a key reached,
for the seven rows the panel shows. Here each row is one line by construction (every
cell cut to its column's width), so the table's height is known at once, and a row is
made into a line of text only when the panel paints it (``DrawnLines`` asks by ``line``).

The column widths are worked out from the cells' lengths, once per width: each column
as wide as its widest cell (and its header), and if that is too wide for the panel, the
``shrink_first`` columns give up width first (down to a third of the table's), then the
widest of all, a cell at a time. A cell cut short shows where with ``…``: at its start in
the ``cut_at_start`` columns (names, which end in what tells them apart,
``…layers.11.mlp.weight``; a history, whose newest values are last, which loses whole
pieces), at its end elsewhere. Columns are two cells apart, as in the panels' Rich tables
(no box, no padding at the edges), and the header is bold, as theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Span, Text

#: Cells between two columns.
GAP = 2
#: A ``shrink_first`` column gives up width down to this many cells, its header's, or a
#: third of the table's width, whichever is most; then the widest column gives.
FLOOR = 6
#: A panel of more rows than this gives each tensor one line.
MANY_ROWS = 24

#: A cell: plain, or a text with styles of its own (the current value marked).
Cell = str | Text


@dataclass(frozen=True)
class OneLineTable:
    """``rows`` of cells under ``headers`` (shown if ``show_header``), ``title`` above
    (none if empty; a text of several lines, wrapped at the panel's width); ``styles`` per column."""

    title: str | Text
    headers: tuple[str, ...]
    styles: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    #: The columns that give up width first when the table is too wide, in that order.
    shrink_first: tuple[int, ...] = ()
    #: The columns cut at their start, not their end: names, and histories whose newest is last.
    cut_at_start: frozenset[int] = frozenset({0})
    show_header: bool = True

    @staticmethod
    def of(title: str | Text, headers: Sequence[str], styles: Sequence[str], rows: Sequence[Sequence[Cell]], *,
           shrink_first: Sequence[int] = (), cut_at_start: Sequence[int] = (0,),
           show_header: bool = True) -> OneLineTable:
        clean = tuple(tuple(" ".join(cell.split("\n")) if isinstance(cell, str) else cell for cell in row)
                      for row in rows)
        return OneLineTable(title, tuple(headers), tuple(styles), clean, tuple(shrink_first),
                            frozenset(cut_at_start), show_header)

    @property
    def lines_below_title(self) -> int:
        """The header's line, if shown, and a line per row."""
        return int(self.show_header) + len(self.rows)

    def widths(self, width: int) -> list[int]:
        """Each column's width at a table ``width`` cells wide (the gaps between them not counted)."""
        heads = [cell_len(header) if self.show_header else 0 for header in self.headers]
        widths = [max([heads[i]] + [_length(row[i]) for row in self.rows]) for i in range(len(self.headers))]
        excess = sum(widths) + GAP * (len(widths) - 1) - width
        for i in self.shrink_first:
            floor = min(widths[i], max(heads[i], FLOOR, width // 3))
            give = max(0, min(excess, widths[i] - floor))
            widths[i] -= give
            excess -= give
        while excess > 0 and max(widths) > 1:  # a cell at a time: a few dozen at most
            widths[widths.index(max(widths))] -= 1
            excess -= 1
        return widths

    def title_text(self) -> Text | None:
        if not self.title:
            return None
        return Text(self.title) if isinstance(self.title, str) else self.title

    def line(self, widths: Sequence[int], i: int) -> Text:
        """Line ``i`` below the title (the header first, if shown), each cell cut and padded to its column."""
        if self.show_header:
            if i == 0:
                return self._joined(widths, self.headers, ["bold"] * len(self.headers))
            i -= 1
        return self._joined(widths, self.rows[i], self.styles)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The whole table (an export, or any other place that is not a panel)."""
        widths = self.widths(options.max_width)
        title = self.title_text()
        if title is not None:
            yield title
        for i in range(self.lines_below_title):
            yield self.line(widths, i)

    def _joined(self, widths: Sequence[int], cells: Sequence[Cell], styles: Sequence[str]) -> Text:
        plain: list[str] = []
        spans: list[Span] = []
        at = 0
        last = len(cells) - 1
        for i, cell in enumerate(cells):
            fitted = _fit(cell, widths[i], at_start=i in self.cut_at_start)
            text = fitted if isinstance(fitted, str) else fitted.plain
            if styles[i]:
                spans.append(Span(at, at + len(text), styles[i]))
            if isinstance(fitted, Text):
                spans.extend(Span(at + span.start, at + span.end, span.style) for span in fitted.spans)
            pad = 0 if i == last else widths[i] - cell_len(text) + GAP
            plain.append(text + " " * pad)
            at += len(text) + pad
        line = Text("".join(plain), spans=spans)
        line.rstrip()  # an empty last cell leaves its neighbour's padding: the spans are cut with it
        return line


def _length(cell: Cell) -> int:
    return cell_len(cell) if isinstance(cell, str) else cell.cell_len


def _fit(cell: Cell, width: int, *, at_start: bool) -> Cell:
    """``cell`` cut to ``width`` cells, ``…`` where it was cut."""
    if _length(cell) <= width:
        return cell
    if width <= 1:
        return "…"[:width]
    plain = cell if isinstance(cell, str) else cell.plain
    kept, used = 0, 1  # characters kept, cells used (the ellipsis's one first)
    for ch in (reversed(plain) if at_start else plain):
        used += cell_len(ch)
        if used > width:
            break
        kept += 1
    if isinstance(cell, str):
        return "…" + plain[len(plain) - kept:] if at_start else plain[:kept] + "…"
    if at_start:  # a text of pieces (a history) loses whole pieces: "… → 2", not "…2e-17 → 2"
        start = len(plain) - kept
        space = plain.find(" ", start)
        return Text("…") + cell[space if space >= 0 else start:]
    return cell[:kept] + Text("…")
