"""The status line: where the user is in the run and one plain sentence about the event."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from gradtui.model import history, sentences, training
from gradtui.model.events import BackwardDone, GradComputed
from gradtui.model.formatting import MODE_WORDS
from gradtui.ui.sticky_rows import StickyRows
from gradtui.ui.view import View

_ENDINGS = {
    "finished": "the script finished",
    "error": "the script raised an error",
    "exited": "the script called sys.exit()",
    "interrupted": "the run was interrupted",
    "stopped": "the recording ended at a --break-on stop",
    "killed": "the run was killed before it ended (its recording stops here)",
    # A replay of a recording still being written shows what was committed when it opened.
    "running": "the script was still running when this replay opened",
}


def render_status(view: View) -> Text:
    if not view.events:
        return Text("starting the script…", style="italic")
    where = history.position(view.events, view.cursor, view.finished, view.sources)
    out = Text(where, style="bold")
    modules, grad = training.modes_at(view.events, view.cursor)
    for name, mode in modules.items():
        out.append(f" · {name}: {mode}", style="green" if mode == "train" else "cyan")
    if grad != "grad":
        out.append(f" · {MODE_WORDS[grad]}", style="cyan")
    if view.running:
        out.append(" · running…", style="yellow")
        if view.progress is not None and view.progress > len(view.events):
            out.append(f" {view.progress:,} events", style="yellow")
    elif view.finished and view.at_end:
        ending = _ENDINGS.get(view.status, f"the run ended: {view.status}")
        code = f" (exit status {view.exit_code})" if view.status == "exited" else ""
        out.append(f" · {ending}{code}", style="cyan")
    run, event = view.node_run, view.current
    if run is not None and isinstance(event, BackwardDone | GradComputed) and view.node is not None:
        inside = "backward" if isinstance(event, BackwardDone) else "autograd.grad"
        out.append(f" · inside {inside}: node {view.node + 1} / {len(event.nodes)}", style="bold yellow")
        out.append("\n")
        node = view.graph.get(run.id)
        out.append(sentences.describe_node(event, view.node, node.variable if node is not None else None))
        for hook in training.hooks_of(view.events, event):
            if hook.node == run.id:
                out.append("\n")
                out.append(f"⚠ {sentences.describe(view.events, hook.seq)}", style="bold magenta")
        return out
    out.append("\n")
    out.append(sentences.describe(view.events, view.cursor, view.sources))
    for note in event.notes if event is not None else ():
        out.append("\n")
        out.append(f"⚠ {note}", style="bold magenta")
    return out


class StatusLine(Widget):
    """Above the footer: the position, then what the current event did (and its notes).

    A plain widget rather than a ``Static``: updating it repaints its lines only, and lays
    the screen out again only when its height changes, where a ``Static`` would lay out
    the whole screen again on every key. Its height grows at once for a longer text and
    shrinks only after a run of shorter ones (``gradtui.ui.sticky_rows``).
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.text = Text("")
        self._sticky = StickyRows()
        self._height = 0

    def render(self) -> Text:
        return self.text

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(self._height, _rows(self.text, width))

    def show(self, view: View) -> None:
        self.text = render_status(view)
        width = self.content_size.width
        if width <= 0:  # not laid out yet: the layout measures it
            self.refresh(layout=True)
            return
        height = self._sticky.fit(_rows(self.text, width))
        relayout = height != self._height
        self._height = height
        self.refresh(layout=relayout)


def _rows(text: Text, width: int) -> int:
    """The rows ``text`` takes when wrapped at ``width`` columns."""
    width = max(1, width)
    return sum(max(1, -(-len(line) // width)) for line in text.plain.split("\n"))
