"""The optimizer panel: class, hyperparameters and per-parameter state after the latest step."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradtui.model import history
from gradtui.model.events import StepTaken
from gradtui.model.formatting import format_number, format_tensor
from gradtui.model.tensors import TensorSummary
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel


def _value(v: object) -> str:
    if isinstance(v, TensorSummary) or v is None:
        return format_tensor(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    return format_number(v)


def render_optimizer(view: View) -> Group | Text:
    event = history.latest(view.events, view.cursor, (StepTaken,))
    if event is None:
        return Text("no step() yet", style="italic")
    number = history.count(view.events, view.cursor, StepTaken)
    head = Text.assemble((event.optimizer.cls, "bold"), f" {event.optimizer.name} · step() #{number}")
    parts: list[Text | Table] = [head]
    for i, group in enumerate(event.hyperparams):
        label = "hyperparameters" if len(event.hyperparams) == 1 else f"group {i}"
        shown = "  ".join(f"{k}={_value(v)}" for k, v in group.items() if v is not None)
        parts.append(Text.assemble((f"{label}: ", "dim"), shown))
    if event.state:
        table = Table(box=None, pad_edge=False, show_edge=False, title="state after the step", title_justify="left")
        keys = list(dict.fromkeys(k for entry in event.state.values() for k in entry))
        table.add_column("parameter", style="bold green")
        for key in keys:
            table.add_column(key)
        for name, entry in event.state.items():
            table.add_row(name, *(_value(entry.get(k)) if k in entry else "" for k in keys))
        parts.append(table)
    else:
        parts.append(Text("no state: this optimizer keeps none", style="italic"))
    return Group(*parts)


class OptimizerView(EventPanel):
    """What the latest ``step()`` used and left behind."""

    KINDS = (StepTaken,)

    def render_view(self, view: View) -> RenderableType:
        return render_optimizer(view)
