"""The parameters panel: what the latest zero_grad, step, clip, unscale or updates by hand did.

A step shows each parameter before and after with the change (a step ``GradScaler``
skipped says so: nothing changed); a zero_grad, a clip and an unscale show each
``.grad`` before and after; updates made by hand (``a -= lr * a.grad``) show one
iteration's worth, each parameter from its value before the first to after the last.
All are what torch held at those moments, never recomputed.

A model of more than ``MANY_ROWS`` tensors gets a line per tensor instead (its norm
before and after, the change; ``OneLineTable``): wrapped in full, a
152-tensor model made an 834-row table that took 65-75 ms to draw at every event, for
the seven rows the panel shows, and was no table to read. Enter opens any one in full.
"""

from __future__ import annotations

from typing import assert_never

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from gradtui.model import history
from gradtui.model.cells import place
from gradtui.model.events import Change, GradsClipped, GradsUnscaled, GradsZeroed, ParamsUpdated, StepTaken
from gradtui.model.formatting import clip_text, format_brief, format_delta, format_number, format_tensor
from gradtui.model.updates import lines_text, update_group, update_rows
from gradtui.ui.one_line_table import MANY_ROWS, OneLineTable
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel

#: A row of a changes table: the tensor's name, its change, and any further cells.
_Row = tuple[str, Change, tuple[str, ...]]


def _changes_table(title: str, first_column: str, rows: list[_Row], suffix: str = "",
                   extra: tuple[str, ...] = ()) -> Table | OneLineTable:
    """Each tensor before and after, with the change: wrapped in full, or a line each if many
    (without the ``suffix`` each name has in full: the header says it)."""
    if len(rows) > MANY_ROWS:
        cells = [(name, format_brief(change.before), format_brief(change.after),
                  format_delta(change.before, change.after, inline=1, digits=4), *more)
                 for name, change, more in rows]
        return OneLineTable.of(f"{title} · {len(rows)} tensors",
                               (first_column, "‖before‖", "‖after‖", "change", *extra),
                               ("bold green", "", "", "", *("" for _ in extra)), cells,
                               shrink_first=(0,))
    table = Table(box=None, pad_edge=False, expand=False, show_edge=False)
    table.title = title
    table.title_justify = "left"
    table.add_column(first_column, style="bold green")
    for header in ("before", "after", "change", *extra):
        table.add_column(header)
    for name, change, more in rows:
        table.add_row(name + suffix, format_tensor(change.before), format_tensor(change.after),
                      format_delta(change.before, change.after), *more)
    return table


def render_updates(view: View) -> Table | OneLineTable | Text:
    group = update_group(view.events, view.cursor)
    if not group:
        return Text("no update by hand yet", style="italic")
    several_lines = len({event.line for event in group}) > 1
    rows: list[_Row] = [(row.name, row.change, (", ".join(f"{op} L{line}" if several_lines else op
                                                          for op, line in row.ops),))
                        for row in update_rows(group)]
    return _changes_table(f"updated by hand · {lines_text(group)}", "parameter", rows, extra=("by",))


def render_params(view: View) -> Table | OneLineTable | Text:
    event = history.latest(view.events, view.cursor, (StepTaken, GradsZeroed, ParamsUpdated, GradsClipped,
                                                      GradsUnscaled))
    where = place(event.file, event.line, view.sources) if event is not None else ""
    match event:
        case None:
            return Text("no zero_grad() or step() yet", style="italic")
        case ParamsUpdated():
            return render_updates(view)
        case StepTaken():
            skipped = " · skipped: nothing changed" if event.skipped is not None else ""
            return _changes_table(f"{event.optimizer.name}.step() · {where}{skipped}", "parameter",
                                  [(name, change, ()) for name, change in event.params.items()])
        case GradsZeroed():
            return _changes_table(f"{event.optimizer.name}.zero_grad() · {where}", ".grad of",
                                  [(name, change, ()) for name, change in event.grads.items()], ".grad")
        case GradsClipped() | GradsUnscaled():
            title = (clip_text(event) if isinstance(event, GradsClipped)
                     else f"{event.scaler.name}.unscale_({event.optimizer.name}) ÷ {format_number(event.scale)}"
                     + (" · found inf/NaN" if event.found_inf else ""))
            return _changes_table(f"{title} · {where}", ".grad of",
                                  [(name, change, ()) for name, change in event.grads.items()], ".grad")
        case _:
            assert_never(event)


class ParamsView(EventPanel):
    """Each parameter before and after the latest ``zero_grad()``, ``step()``, clip, unscale or updates by hand."""

    KINDS = (StepTaken, GradsZeroed, ParamsUpdated, GradsClipped, GradsUnscaled)

    def render_view(self, view: View) -> RenderableType:
        return render_params(view)

    def tensor_names(self, view: View) -> tuple[str, ...]:
        event = history.latest(view.events, view.cursor, self.KINDS)
        match event:
            case None:
                return ()
            case StepTaken():
                return tuple(event.params)
            case ParamsUpdated():
                return tuple(row.name for row in update_rows(update_group(view.events, view.cursor)))
            case GradsZeroed() | GradsClipped() | GradsUnscaled():
                return tuple(event.grads)
            case _:
                assert_never(event)
