"""The help screen (``?`` / F1): every key (from ``gradtui.ui.keys``), and what each panel shows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gradtui.ui.keys import help_lines

PANELS = (
    "Source: the current line (▶) and breakpoints (●).",
    "Graph: the grad_fn chain of the latest backward's root, or of the latest op's output;",
    "  a model's graph: its module outline, → an input from another module; focused, the path to the cursor;",
    "  inside a backward pass, ◀ marks the node torch is running and what flows through it.",
    "Gradients: each leaf's .grad across the run; the current value is highlighted.",
    "Parameters / Optimizer: before and after the latest zero_grad(), step() or updates by hand; "
    "the optimizer's state.",
    "Plot: the loss per backward (or the --watch variable) and its scale;",
    "  the border says what is not drawn (NaN, inf, ≤ 0 on a log scale).",
    "Output: what the script printed.",
    "Stepping back never re-runs the script; stepping past the newest event runs it on.",
)


def help_text() -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold yellow", no_wrap=True)
    table.add_column()
    for key, action in help_lines():
        table.add_row(key, action)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and panels; any of Escape, q, ? or F1 closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "close help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("gradtui keys", style="bold"))
            yield Static(help_text())
            yield Static(Text("\n" + "\n".join(PANELS)))
            yield Static(Text("\nEscape closes this help.", style="dim"))
