"""The output panel: what the script printed up to the event on screen, and its traceback.

The script's output is captured by the engine and kept as events, so it is drawn here and
never written to the terminal under the app.
"""

from __future__ import annotations

import os

from rich.cells import cell_len
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from gradtui.model import history
from gradtui.model.events import ErrorRaised, OutputWritten
from gradtui.ui.view import View

#: Output kept on screen, newest last; older text is dropped from the top (the timeline
#: keeps all of it). Laying out more made a key take 0.2 s after 100,000 printed lines.
MAX_CHARS = 8_000
MAX_LINES = 200
#: Pieces of output read at most: text printed a character at a time between events comes
#: one event per character, and the panel has room for a few hundred of them anyway.
MAX_PIECES = 500


def _relative_traceback(text: str, folder: str) -> str:
    """Script paths in a traceback as the rest of the app names files: from the script's folder."""
    return text.replace(f'File "{folder}{os.sep}', 'File "') if folder else text


def render_output(view: View) -> Text:
    """The newest output up to the cursor (``MAX_LINES``, ``MAX_CHARS``), read backwards from it.

    Only the output and error events that fit are read, each found by the index, so a
    script that printed a hundred thousand lines redraws as fast as one that printed ten.
    """
    pieces: list[tuple[str, str]] = []
    size = lines = 0
    event = history.latest(view.events, view.cursor, (OutputWritten, ErrorRaised))
    while event is not None and len(pieces) < MAX_PIECES:
        if isinstance(event, OutputWritten):
            pieces.append((event.text, "red" if event.stream == "stderr" else ""))
        else:
            text = event.traceback or f"{event.type}: {event.message}\n"
            pieces.append((_relative_traceback(text, view.script_folder), "bold red"))
        size += len(pieces[-1][0])
        lines += pieces[-1][0].count("\n")
        if size >= MAX_CHARS or lines >= MAX_LINES:
            break
        event = history.latest(view.events, event.seq - 1, (OutputWritten, ErrorRaised)) if event.seq else None
    if not pieces:
        return Text("nothing printed yet", style="italic")
    out = Text(no_wrap=True, overflow="ignore")
    for text, style in reversed(pieces):
        out.append(text, style=style)
    if len(out) > MAX_CHARS:
        out = out[len(out) - MAX_CHARS :]
    if lines > MAX_LINES:
        out = Text("\n", no_wrap=True, overflow="ignore").join(out.split("\n")[-MAX_LINES:])
    out.rstrip()
    return out


class OutputView(ScrollableContainer):
    """stdout and stderr of the script, newest at the bottom."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._body = Static("", expand=False)
        self._shown: object = ()
        #: Whether the text on screen fits the panel: the body then fills it exactly (app.tcss).
        self._fitted = False

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, view: View) -> None:
        latest = history.latest(view.events, view.cursor, (OutputWritten, ErrorRaised))
        key = (None if latest is None else latest.seq, view.script_folder)
        if key == self._shown:
            return
        self._shown = key
        text = render_output(view)
        fits = self._fits(text)
        if fits and self._fitted:
            # The body is as large as the panel before and after: the screen need not be laid out.
            self._body.update(text, layout=False)
        else:
            self._body.update(text)
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
        self._fitted = fits

    def _fits(self, text: Text) -> bool:
        """Whether ``text`` fits the panel's viewport without wrapping or scrolling."""
        region = self.scrollable_content_region
        rows = text.plain.split("\n")
        return 0 < len(rows) <= region.height and max(map(cell_len, rows)) <= region.width
