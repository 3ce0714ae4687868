"""A scrolling panel that shows what the latest event of some kinds left behind.

The gradients, parameters and optimizer panels each depend on one kind of event only
(the latest backward or zero_grad, the latest step …). Drawing one again can re-lay out
the whole screen, so a panel redraws only when that event changes, not at all while it
is hidden in a tab (opening the tab redraws everything), and asks for a layout only when
its height must change (``_put``). Its content is drawn once per event and width
(``gradtui.ui.drawn_lines``): a model of 150 parameters has hundreds of rows to draw.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

from rich.console import RenderableType
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message

from gradtui.model import history
from gradtui.model.events import Event
from gradtui.ui.drawn_lines import KEPT, DrawnLines
from gradtui.ui.sticky_rows import StickyRows
from gradtui.ui.view import View


class EventPanel(VerticalScroll):
    """Subclasses name their ``KINDS`` and draw in ``render_view``; Enter offers the tensors shown."""

    BINDINGS = [Binding("enter", "offer_tensors", "open a tensor", show=False)]

    #: The kinds whose latest event, up to the cursor, decides what the panel shows.
    KINDS: ClassVar[tuple[type[Event], ...]] = ()

    class TensorsOffered(Message):
        """Enter in a panel: the names of the tensors it shows, for the app to open one in full."""

        def __init__(self, names: tuple[str, ...]) -> None:
            super().__init__()
            self.names = names

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._body = DrawnLines()
        self._sticky = StickyRows()
        self._drawn: object = ()
        self._view: View | None = None
        #: The events the kept drawings belong to: another timeline's seqs are other events.
        self._events: object = None
        #: The contents of the last few events shown (as many as the body keeps drawings
        #: of): going back to one, as ``c`` then ``C`` then ``c`` does, builds it no more.
        self._contents: OrderedDict[object, RenderableType] = OrderedDict()

    def tensor_names(self, view: View) -> tuple[str, ...]:
        """The tensors the panel shows, by the script's names (``w``, ``net.0.weight``)."""
        return ()

    def action_offer_tensors(self) -> None:
        names = self.tensor_names(self._view) if self._view is not None else ()
        if names:
            self.post_message(self.TensorsOffered(names))

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def render_view(self, view: View) -> RenderableType:
        raise NotImplementedError

    def show(self, view: View) -> None:
        self._view = view
        if not self.display or (self.parent is not None and not self.parent.display):
            return
        if view.events is not self._events:
            self._events = view.events
            self._body.forget()
            self._contents.clear()
        latest = history.latest(view.events, view.cursor, self.KINDS)
        key = None if latest is None else latest.seq
        if key != self._drawn:
            self._drawn = key
            content = self._contents.pop(key, None)
            if content is None:
                content = self.render_view(view)
            self._contents[key] = content
            while len(self._contents) > KEPT:
                self._contents.popitem(last=False)
            self._put(content, key)

    def _put(self, content: RenderableType, key: object = None) -> None:
        """Show ``content``, laying the screen out again only if the panel's height must change.

        A layout of the whole screen costs about 15 ms at 120x40 (and a second one when the
        panel's scroll height changed). Here the new content is measured (drawn once, the
        lines kept for painting) and the body keeps its height unless the content needs
        more, or a run of contents needed less (``gradtui.ui.sticky_rows``): stepping
        between a step's rows and a zero_grad's then lays nothing out. ``key`` names the
        content (the event it shows), so that it is drawn once however often it is shown.
        """
        body = self._body
        width = body.size.width
        body.show(content, key)
        if width <= 0:  # not laid out yet: the layout measures it
            body.refresh(layout=True)
            return
        height = self._sticky.fit(body.height_at(width))
        if height != body.size.height:
            body.styles.min_height = height  # a change of style lays the screen out
