"""The optimizer panel: class, hyperparameters and per-parameter state after the latest step.

Also what real training loops add around the step: whether it was skipped (a
``GradScaler`` that found inf/NaN), the learning-rate schedule so far (each
``scheduler.step()``), and the other optimizers of the run (a GAN's two).

The state of more than ``MANY_ROWS`` parameters is a line per parameter, each tensor as
its norm (``OneLineTable``, as the parameters panel does): Enter opens one in full.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradtui.model import history, training
from gradtui.model.events import LrScheduled, StepTaken
from gradtui.model.formatting import ARROW, format_brief, format_number, format_tensor, group_lrs, lr_list
from gradtui.model.tensors import TensorSummary
from gradtui.ui.one_line_table import MANY_ROWS, OneLineTable
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel


def _value(v: object, brief: bool = False) -> str:
    if isinstance(v, TensorSummary) or v is None:
        return format_brief(v) if brief else format_tensor(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x, brief) for x in v) + ")"
    return format_number(v, 4) if brief else format_number(v)


def render_optimizer(view: View) -> Group | Text | OneLineTable:
    event = history.latest(view.events, view.cursor, (StepTaken,))
    if event is None:
        return Text("no step() yet", style="italic")
    number = history.count(view.events, view.cursor, StepTaken)
    head = Text.assemble((event.optimizer.cls, "bold"), f" {event.optimizer.name} · step() #{number}")
    parts: list[Text | Table] = [head]
    if event.skipped is not None:
        parts.append(Text(f"skipped: {event.skipped}", style="bold yellow"))
    parts.extend(_others(view, event))
    parts.extend(_schedule(view, event))
    for i, group in enumerate(event.hyperparams):
        label = "hyperparameters" if len(event.hyperparams) == 1 else f"group {i}"
        shown = "  ".join(f"{k}={_value(v)}" for k, v in group.items() if v is not None)
        parts.append(Text.assemble((f"{label}: ", "dim"), shown))
    if len(event.state) > MANY_ROWS:
        keys = list(dict.fromkeys(k for entry in event.state.values() for k in entry))
        rows = [(name, *(_value(entry.get(k), brief=True) if k in entry else "" for k in keys))
                for name, entry in event.state.items()]
        above = [part for part in parts if isinstance(part, Text)]  # no table yet: all of them
        above.append(Text(f"state after the step · {len(rows)} parameters, tensors as norms"))
        return OneLineTable.of(Text("\n").join(above), ("parameter", *keys), ("bold green", *("" for _ in keys)),
                               rows, shrink_first=(0,))
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


#: Values of a schedule shown, at most (the latest ones).
SCHEDULE_SHOWN = 6


def _schedule(view: View, step: StepTaken) -> list[Text]:
    """``schedule · sched (StepLR): 0.1 → 0.05 → 0.025``: the lr each ``scheduler.step()`` left."""
    lines: list[Text] = []
    mine = [e for e in training.recent(view.events, view.cursor, LrScheduled, training.SCHEDULE_WINDOW)
            if e.optimizer.name == step.optimizer.name]
    for name in dict.fromkeys(e.scheduler.name for e in mine):
        events = [e for e in mine if e.scheduler.name == name]
        values = [lr_list(a for _, a in e.lrs) for e in events]
        shown = values[-SCHEDULE_SHOWN:]
        first = lr_list(b for b, _ in events[0].lrs) if len(values) <= SCHEDULE_SHOWN else "…"
        lines.append(Text.assemble((f"schedule · {name} ({events[-1].scheduler.cls}): ", "dim"),
                                   f" {ARROW} ".join([first, *shown])))
    return lines


def _others(view: View, step: StepTaken) -> list[Text]:
    """The run's other optimizers (a GAN's generator and critic), each with its latest lr."""
    seen: dict[str, StepTaken] = {}
    for e in training.recent(view.events, view.cursor, StepTaken, training.SCHEDULE_WINDOW):
        if e.optimizer.name != step.optimizer.name:
            seen[e.optimizer.name] = e
    if not seen:
        return []
    text = ", ".join(f"{name} ({e.optimizer.cls}, lr={group_lrs(e.hyperparams) or '?'})" for name, e in seen.items())
    return [Text.assemble(("also stepping: ", "dim"), text)]


class OptimizerView(EventPanel):
    """What the latest ``step()`` used and left behind, the schedule so far, the other optimizers."""

    KINDS = (StepTaken, LrScheduled)

    def render_view(self, view: View) -> RenderableType:
        return render_optimizer(view)
