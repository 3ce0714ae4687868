"""A scrolling panel that shows what the latest event of some kinds left behind.

The gradients, parameters and optimizer panels each depend on one kind of event only
(the latest backward or zero_grad, the latest step …). Drawing one again re-lays out the
whole screen, so a panel redraws only when that event changes, and not at all while it
is hidden in a tab (opening the tab redraws everything).
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from textual.containers import VerticalScroll
from textual.widgets import Static

from gradtui.model import history
from gradtui.model.events import Event
from gradtui.ui.view import View


class EventPanel(VerticalScroll):
    """Subclasses name their ``KINDS`` and draw in ``render_view``."""

    #: The kinds whose latest event, up to the cursor, decides what the panel shows.
    KINDS: ClassVar[tuple[type[Event], ...]] = ()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._body = Static("")
        self._drawn: object = ()

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def render_view(self, view: View) -> RenderableType:
        raise NotImplementedError

    def show(self, view: View) -> None:
        if not self.display or (self.parent is not None and not self.parent.display):
            return
        latest = history.latest(view.events, view.cursor, self.KINDS)
        key = None if latest is None else latest.seq
        if key != self._drawn:
            self._drawn = key
            self._body.update(self.render_view(view))
