"""The parameters panel: what the latest zero_grad, step, clip, unscale or updates by hand did.

A step shows each parameter before and after with the change (a step ``GradScaler``
skipped says so: nothing changed); a zero_grad, a clip and an unscale show each
``.grad`` before and after; updates made by hand (``a -= lr * a.grad``) show one
iteration's worth, each parameter from its value before the first to after the last.
All are what torch held at those moments, never recomputed.
"""

from __future__ import annotations

from typing import assert_never

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from gradtui.model import history
from gradtui.model.cells import place
from gradtui.model.events import Change, GradsClipped, GradsUnscaled, GradsZeroed, ParamsUpdated, StepTaken
from gradtui.model.formatting import clip_text, format_delta, format_number, format_tensor
from gradtui.model.updates import lines_text, update_group, update_rows
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel


def _table(title: str, first_column: str) -> Table:
    table = Table(box=None, pad_edge=False, expand=False, show_edge=False)
    table.title = title
    table.title_justify = "left"
    table.add_column(first_column, style="bold green")
    table.add_column("before")
    table.add_column("after")
    table.add_column("change")
    return table


def _row(table: Table, name: str, change: Change, *extra: str) -> None:
    table.add_row(name, format_tensor(change.before), format_tensor(change.after),
                  format_delta(change.before, change.after), *extra)


def render_updates(view: View) -> Table | Text:
    group = update_group(view.events, view.cursor)
    if not group:
        return Text("no update by hand yet", style="italic")
    table = _table(f"updated by hand · {lines_text(group)}", "parameter")
    table.add_column("by")
    several_lines = len({event.line for event in group}) > 1
    for row in update_rows(group):
        how = ", ".join(f"{op} L{line}" if several_lines else op for op, line in row.ops)
        _row(table, row.name, row.change, how)
    return table


def render_params(view: View) -> Table | Text:
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
            table = _table(f"{event.optimizer.name}.step() · {where}{skipped}", "parameter")
            for name, change in event.params.items():
                _row(table, name, change)
            return table
        case GradsZeroed():
            table = _table(f"{event.optimizer.name}.zero_grad() · {where}", ".grad of")
            for name, change in event.grads.items():
                _row(table, name + ".grad", change)
            return table
        case GradsClipped() | GradsUnscaled():
            title = (clip_text(event) if isinstance(event, GradsClipped)
                     else f"{event.scaler.name}.unscale_({event.optimizer.name}) ÷ {format_number(event.scale)}"
                     + (" · found inf/NaN" if event.found_inf else ""))
            table = _table(f"{title} · {where}", ".grad of")
            for name, change in event.grads.items():
                _row(table, name + ".grad", change)
            return table
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
