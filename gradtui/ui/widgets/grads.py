"""The gradients panel: each leaf's ``.grad`` across the run, the current value marked.

This is the panel a learner opens gradtui for: ``theta.grad None → 2 → 4 → 6 → 8
⟲ zero_grad → None → 2`` shows accumulation at a glance. Only the latest backward and
zero_grad events are read (``history.GRAD_WINDOW``): a history they do not begin opens with ``…``.
The panel keeps a ``GradIndex`` of the events it draws, so moving the cursor by one of them
works out that one alone, not the whole window again.

More than ``MANY_ROWS`` leaves get a line each, their values as norms (``format_brief``),
cut at the start so the newest stay in view (``OneLineTable``): wrapped in full, 152 leaves
made 1,962 rows, and working out their heights alone took 60-80 ms at every new event.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Span, Text

from gradtui.model import history
from gradtui.model.grad_index import GradIndex
from gradtui.ui.one_line_table import MANY_ROWS, OneLineTable
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel


def _style(piece: str, is_current: bool) -> str | None:
    if is_current:
        return "bold reverse"
    if piece == history.RESET_MARK:
        return "magenta"
    if piece in (history.CLIP_MARK, history.UNSCALE_MARK):
        return "yellow"
    return None


def render_grads(view: View, grads: GradIndex | None = None) -> Text | OneLineTable:
    """The panel's text; ``grads``, an index of ``view.events``, keeps what earlier redraws worked out."""
    index = grads if grads is not None else GradIndex(view.events)
    shown = index.shown(view.cursor, view.cursor, brief_above=MANY_ROWS)
    if len(shown) > MANY_ROWS:
        return _one_line_each(shown)
    if not shown:
        return Text("no backward() yet: every .grad is None", style="italic")
    out = Text(no_wrap=False)
    # The unstyled pieces between two styled ones go in as one string: the same text and
    # spans as a piece at a time, for a tenth of the appends (a model of 30 leaves made 1,700).
    plain: list[str] = []

    def styled(piece: str, style: str) -> None:
        out.append("".join(plain))
        plain.clear()
        out.append(piece, style=style)

    for name, pieces in shown:
        styled(f"{name}.grad", "bold green")
        plain.append("  ")
        for i, (piece, is_current) in enumerate(pieces):
            if i:
                plain.append(" ")
            style = _style(piece, is_current)
            if style is None:
                plain.append(piece)
            else:
                styled(piece, style)
        plain.append("\n")
    out.append("".join(plain))
    out.rstrip()
    return out


def _one_line_each(shown: list[tuple[str, list[tuple[str, bool]]]]) -> OneLineTable:
    rows = []
    for name, pieces in shown:
        # The text and its spans at once: appending piece by piece cost 40 ms for 152 leaves.
        spans, at = [], 0
        for piece, is_current in pieces:
            style = _style(piece, is_current)
            if style is not None:
                spans.append(Span(at, at + len(piece), style))
            at += len(piece) + 1
        rows.append((name, Text(" ".join(piece for piece, _ in pieces), spans=spans)))
    return OneLineTable.of(f".grad of {len(shown)} leaves, as norms", ("leaf", "values"), ("bold green", ""),
                           rows, shrink_first=(1, 0), cut_at_start=(0, 1), show_header=False)


class GradHistory(EventPanel):
    """``.grad`` of every leaf a backward or zero_grad touched, up to the event on screen."""

    KINDS = history.GRAD_KINDS

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._grads: GradIndex | None = None

    def _index(self, view: View) -> GradIndex:
        """The index of the events on screen: the app's for as long as it lives, one afresh for other events."""
        if self._grads is None or self._grads.events is not view.events:
            self._grads = GradIndex(view.events)
        return self._grads

    def render_view(self, view: View) -> RenderableType:
        return render_grads(view, self._index(view))

    def tensor_names(self, view: View) -> tuple[str, ...]:
        return tuple(self._index(view).grad_window(view.cursor).histories)
