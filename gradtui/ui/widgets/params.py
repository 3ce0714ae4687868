"""The parameters panel: what the latest zero_grad or step did to each parameter.

A step shows each parameter before and after with the change; a zero_grad shows each
``.grad`` before and after. Both are what torch held at those moments, never recomputed.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from gradtui.model import history
from gradtui.model.events import GradsZeroed, StepTaken
from gradtui.model.formatting import format_delta, format_tensor
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel


def render_params(view: View) -> Table | Text:
    event = history.latest(view.events, view.cursor, (StepTaken, GradsZeroed))
    if event is None:
        return Text("no zero_grad() or step() yet", style="italic")
    table = Table(box=None, pad_edge=False, expand=False, show_edge=False)
    if isinstance(event, StepTaken):
        title = f"{event.optimizer.name}.step() · line {event.line}"
        table.add_column("parameter", style="bold green")
        changes = event.params
        suffix = ""
    else:
        assert isinstance(event, GradsZeroed)
        title = f"{event.optimizer.name}.zero_grad() · line {event.line}"
        table.add_column(".grad of", style="bold green")
        changes = event.grads
        suffix = ".grad"
    table.title = title
    table.title_justify = "left"
    table.add_column("before")
    table.add_column("after")
    table.add_column("change")
    for name, change in changes.items():
        table.add_row(name + suffix, format_tensor(change.before), format_tensor(change.after),
                      format_delta(change.before, change.after))
    return table


class ParamsView(EventPanel):
    """Each parameter before and after the latest ``zero_grad()`` or ``step()``."""

    KINDS = (StepTaken, GradsZeroed)

    def render_view(self, view: View) -> RenderableType:
        return render_params(view)
