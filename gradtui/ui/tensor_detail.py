"""The tensor detail view: one tensor's facts, all its values, a histogram, and its history over the run.

Opened with Enter on a tensor in the variables panel. Its values are those the timeline
kept (every value up to ``--max-values`` elements, statistics beyond); in a live run the
app also asks the paused script for the whole tensor and its histogram
(``Evaluate(detail=True)``) and hands them in with ``take_detail``. The history lists each
line where the variable's value or ``.grad`` changed, from the timeline.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from gradtui.model.formatting import format_stats, format_tensor, stats_from_values
from gradtui.model.scopes import HistoryEntry
from gradtui.model.var_text import tensor_facts, torch_repr
from gradtui.model.variables import Var

#: A tensor of more elements than this gets a histogram (a smaller one is read at a glance).
HISTOGRAM_FROM = 64


class TensorDetailScreen(ModalScreen[None]):
    """A tensor in full; Escape or q closes it."""

    BINDINGS = [Binding("escape,q", "close", "close")]

    def __init__(self, title: str, var: Var, entries: Sequence[HistoryEntry], live: bool) -> None:
        super().__init__()
        assert var.tensor is not None
        self.title_text = title
        self.var = var
        self.entries = entries
        self.live = live
        self._ready = False
        self._early: tuple[str | None, Sequence[tuple[float, float, int]], str | None] | None = None

    def compose(self) -> ComposeResult:
        facts = self.var.tensor
        assert facts is not None
        with Vertical(id="detail"):
            yield Static(Text.assemble((self.title_text, "bold green"), "  ", (self.var.type, "bold")),
                         id="detail-title")
            table = Table(box=None, show_header=False, pad_edge=False)
            table.add_column(style="cyan")
            table.add_column()
            for label, text in tensor_facts(facts)[:-1]:
                table.add_row(label, text)
            table.add_row("statistics", format_stats(stats_from_values(facts.value)))
            yield Static(table, id="detail-facts")
            with VerticalScroll(id="detail-values"):
                yield Static(self._values_text(), id="detail-repr")
            plot = PlotextPlot(id="detail-histogram")
            plot.display = False
            yield plot
            yield Static(self._history(), id="detail-history")
            yield Static(Text("Escape closes · arrows scroll the values", style="dim"))

    def _values_text(self) -> Text:
        facts = self.var.tensor
        assert facts is not None
        kept = torch_repr(facts.value)
        if kept is not None:
            return Text(kept)
        if self.live:
            return Text("reading every value from the paused script…", style="italic")
        return Text("this run kept statistics only for a tensor this large (see --max-values); "
                    "in a live run, Enter here reads every value and draws a histogram", style="italic")

    def _history(self) -> Group | Text:
        if not self.entries:
            return Text("history: no change recorded in this frame", style="italic")
        table = Table(box=None, pad_edge=False)
        table.add_column("event", justify="right", style="dim")
        table.add_column("line", justify="right")
        table.add_column("value")
        table.add_column(".grad")
        for entry in self.entries[-12:]:
            facts = entry.value.tensor if entry.value is not None else None
            if facts is None:
                table.add_row(str(entry.seq), str(entry.line), "unbound" if entry.value is None else "not a tensor",
                              "")
                continue
            table.add_row(str(entry.seq), str(entry.line), format_tensor(facts.value),
                          format_tensor(facts.grad))
        title = "history in this frame: each line that changed it"
        if len(self.entries) > 12:
            title += f" (the last 12 of {len(self.entries)})"
        return Group(Text(title, style="italic"), table)

    def take_detail(self, full: str | None, histogram: Sequence[tuple[float, float, int]], error: str | None) -> None:
        """The paused script's answer: every value, and the histogram of the finite ones.

        An answer that comes before the view is drawn waits for it (``on_mount``); one that
        comes after the user closed the view is dropped.
        """
        if not self._ready:
            self._early = (full, histogram, error)
            return
        if not self.is_attached:
            return
        if error is not None:
            self.query_one("#detail-repr", Static).update(Text(f"could not read it live: {error}", style="red"))
            return
        if full is not None:
            self.query_one("#detail-repr", Static).update(Text(full))
        facts = self.var.tensor
        if histogram and facts is not None and facts.value.numel > HISTOGRAM_FROM:
            plot = self.query_one(PlotextPlot)
            plot.display = True
            plt = plot.plt
            plt.clear_data()
            plt.clear_figure()
            centres = [(lo + hi) / 2 for lo, hi, _ in histogram]
            plt.bar(centres, [float(n) for _, _, n in histogram], width=0.9)
            plt.title(f"histogram · {len(histogram)} bins of the finite values")
            plot.refresh()

    def on_mount(self) -> None:
        self._ready = True
        if self._early is not None:
            self.take_detail(*self._early)
            self._early = None

    def action_close(self) -> None:
        self.dismiss(None)
