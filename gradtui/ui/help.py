"""The help screen (``?`` / F1): every key, and what each panel shows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

#: The keys, in the order the README and the help screen list them.
KEYS: tuple[tuple[str, str], ...] = (
    ("s", "step one operation (any event); on a backward, step into it node by node"),
    ("n", "next line"),
    ("e", "next backward / zero_grad / step / update event (steps over a backward pass)"),
    ("c", "continue to the next breakpoint or the end"),
    ("S  N  E", "the same, backwards in time"),
    ("C", "back to the start"),
    ("b", "toggle a breakpoint on the current line"),
    ("L", "plot on a log / linear scale (chosen by itself until pressed: log once values span 100×)"),
    ("ctrl+p", "breakpoints on events: every backward / zero_grad / step, first NaN, large gradient, any note"),
    ("? / F1", "this help"),
    ("q / ctrl+q", "quit"),
    ("Tab / arrows / mouse", "move between panels, scroll, open graph nodes (Enter / Space)"),
    ("/", "find in the graph: a node, leaf or module name; Enter the next match, Escape ends"),
    ("+  -", "in the graph: open everything / back to the module outline"),
)

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
    for key, action in KEYS:
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
