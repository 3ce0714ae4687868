"""The gradients panel: each leaf's ``.grad`` across the run, the current value marked.

This is the panel a learner opens gradtui for: ``theta.grad None → 2 → 4 → 6 → 8
⟲ zero_grad → None → 2`` shows accumulation at a glance. Only the latest backward and
zero_grad events are read (``history.GRAD_WINDOW``): a history they do not begin opens with ``…``.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from gradtui.model import history
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel


def render_grads(view: View) -> Text:
    window = history.grad_window(view.events, view.cursor)
    grads = window.histories
    if not grads:
        return Text("no backward() yet: every .grad is None", style="italic")
    current = view.cursor
    out = Text(no_wrap=False)
    for name, entries in grads.items():
        out.append(f"{name}.grad", style="bold green")
        out.append("  ")
        for i, (piece, is_current) in enumerate(history.format_grad_history(entries, current, cut=window.cut)):
            if i:
                out.append(" ")
            if is_current:
                out.append(piece, style="bold reverse")
            elif piece == history.RESET_MARK:
                out.append(piece, style="magenta")
            elif piece in (history.CLIP_MARK, history.UNSCALE_MARK):
                out.append(piece, style="yellow")
            else:
                out.append(piece)
        out.append("\n")
    out.rstrip()
    return out


class GradHistory(EventPanel):
    """``.grad`` of every leaf a backward or zero_grad touched, up to the event on screen."""

    KINDS = history.GRAD_KINDS

    def render_view(self, view: View) -> RenderableType:
        return render_grads(view)

    def tensor_names(self, view: View) -> tuple[str, ...]:
        return tuple(history.grad_window(view.events, view.cursor).histories)
