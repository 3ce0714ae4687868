"""The panels of the side-by-side view: each run's source, the two runs' values, their loss curves.

Built from model values only (a ``RunPair`` and the cursor's ``Pair``), so a test can build
them from two recorded runs. The values panel puts each parameter and gradient of the two
runs in one row with their difference, as ``gradtui.model.tolerance`` measures it.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static
from textual_plotext import PlotextPlot

from gradtui.model.formatting import format_number, format_tensor, group_lrs
from gradtui.model.run_pairs import Pair, RunPair, grads_at, params_at, per_anchor, step_at
from gradtui.model.tensors import TensorSummary
from gradtui.model.tolerance import Tolerance, tensor_gap
from gradtui.ui.widgets.source import render_source

#: Lines of source shown above the current one.
_ABOVE = 6


class RunSource(Static):
    """One run's source around the line it is at."""

    def show(self, runs: RunPair, side: int, seq: int, title: str, moved: bool) -> None:
        run = runs.runs[side]
        event = runs.events[side][seq]
        text = run.sources.get(event.file, "")
        rendered = render_source(text, event.line, set()) if text else Text("(no source recorded)")
        lines = rendered.split("\n", allow_blank=True)
        start = max(0, event.line - 1 - _ABOVE)
        window = Text("\n").join(lines[start:start + max(4, self.size.height or 14)])
        self.border_title = f"{'AB'[side]} · {title}"
        self.border_subtitle = f"line {event.line} · {event.kind}" + ("" if moved else " · holds")
        self.update(window)


class PairValues(Static):
    """Parameters, gradients and optimizer of both runs at the cursor, with their differences."""

    def show(self, runs: RunPair, pair: Pair, tol: Tolerance) -> None:
        ea, eb = runs.events
        table = Table(expand=True, box=None, show_edge=False, pad_edge=False)
        for header in ("", "run A", "run B", "|Δ|"):
            table.add_column(header, overflow="fold")
        self._rows(table, params_at(ea, pair.a), params_at(eb, pair.b), "", tol)
        self._rows(table, grads_at(ea, pair.a), grads_at(eb, pair.b), ".grad", tol)
        sa, sb = step_at(ea, pair.a), step_at(eb, pair.b)
        if sa is not None or sb is not None:
            table.add_row(Text("optimizer", style="bold"),
                          *(Text(f"{s.optimizer.cls} lr={group_lrs(s.hyperparams)}") if s else Text("no step yet")
                            for s in (sa, sb)), "")
            names = sorted(set(sa.state if sa else {}) | set(sb.state if sb else {}))
            for name in names:
                state_a = sa.state.get(name, {}) if sa else {}
                state_b = sb.state.get(name, {}) if sb else {}
                for key in sorted(set(state_a) | set(state_b)):
                    table.add_row(Text(f"  {name}[{key}]"), Text(_value(state_a.get(key))),
                                  Text(_value(state_b.get(key))), "")
        self.update(table)

    @staticmethod
    def _rows(table: Table, a: dict[str, TensorSummary | None], b: dict[str, TensorSummary | None], suffix: str,
              tol: Tolerance) -> None:
        for name in sorted(a.keys() | b.keys()):
            ta, tb = a.get(name), b.get(name)
            gap = tensor_gap(ta, tb, tol) if name in a and name in b else None
            diff = Text("=", style="green") if gap is None else Text(
                format_number(gap.size) if gap.size is not None and gap.exact else gap.text, style="bold red")
            table.add_row(Text(f"{name}{suffix}"), Text(format_tensor(ta) if name in a else "—"),
                          Text(format_tensor(tb) if name in b else "—"), diff)


def _value(v: object) -> str:
    if isinstance(v, TensorSummary):
        return format_tensor(v)
    return "—" if v is None else format_number(v)


class PairPlot(PlotextPlot):
    """Both runs' loss per aligned step on one plot, the cursor's step marked; the lr too where it differs."""

    def __init__(self, runs: RunPair, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._series = [per_anchor(events, anchors) for events, anchors in zip(runs.events, runs.anchors)]
        self._unit = runs.unit_name
        self._at = 0
        lrs = [lr for _, lr in self._series]
        self._lr_differs = any(x is not None for x in lrs[0] + lrs[1]) and lrs[0] != lrs[1]
        self.border_title = (f"Plot · loss per {self._unit}: [cyan]━ A[/] [orange1]━ B[/]"
                             + (" · lr dotted, right axis" if self._lr_differs else ""))

    def mark(self, step: int) -> None:
        if step != self._at:
            self._at = step
            self.refresh()

    def render(self):  # type: ignore[no-untyped-def]
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.frame(False)
        drawn = False
        for (losses, lrs), color in zip(self._series, ("cyan", "orange"), strict=True):
            points = [(i, y) for i, y in enumerate(losses, start=1) if y is not None]
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], marker="braille", color=color)
                drawn = True
            lr_points = [(i, y) for i, y in enumerate(lrs, start=1) if y is not None]
            if self._lr_differs and lr_points:
                plt.plot([p[0] for p in lr_points], [p[1] for p in lr_points], marker="dot", color=color,
                         yside="right")
        if drawn and self._at:
            plt.vline(self._at, "red")
        plt.xlabel(self._unit)
        return super().render()
