"""The gradients panel: each leaf's ``.grad`` across the run, the current value marked.

This is the panel a learner opens gradtui for: ``theta.grad None → 2 → 4 → 6 → 8
⟲ zero_grad → None → 2`` shows accumulation at a glance.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from gradtui.model import history
from gradtui.model.events import BackwardDone, GradsZeroed
from gradtui.ui.view import View


def render_grads(view: View) -> Text:
    grads = history.grad_history(view.events, view.cursor)
    if not grads:
        return Text("no backward() yet: every .grad is None", style="italic")
    current = view.cursor
    out = Text(no_wrap=False)
    for name, entries in grads.items():
        out.append(f"{name}.grad", style="bold green")
        out.append("  ")
        for i, (piece, is_current) in enumerate(history.format_grad_history(entries, current)):
            if i:
                out.append(" ")
            if is_current:
                out.append(piece, style="bold reverse")
            elif piece == history.RESET_MARK:
                out.append(piece, style="magenta")
            else:
                out.append(piece)
        out.append("\n")
    out.rstrip()
    return out


class GradHistory(VerticalScroll):
    """``.grad`` of every leaf a backward or zero_grad touched, up to the event on screen."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._body = Static("")
        self._drawn: object = ()

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, view: View) -> None:
        # Only a backward or a zero_grad changes this panel: redraw (and re-lay out) then.
        latest = history.latest(view.events, view.cursor, (BackwardDone, GradsZeroed))
        key = None if latest is None else latest.seq
        if key != self._drawn:
            self._drawn = key
            self._body.update(render_grads(view))
