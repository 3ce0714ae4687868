"""The output panel: what the script printed up to the event on screen, and its traceback.

The script's output is captured by the engine and kept as events, so it is drawn here and
never written to the terminal under the app.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from gradtui.model import history
from gradtui.model.events import ErrorRaised, OutputWritten
from gradtui.ui.view import View

#: Characters of output kept on screen; older text is dropped from the top.
MAX_CHARS = 20_000


def _relative_traceback(text: str, folder: str) -> str:
    """Script paths in a traceback as the rest of the app names files: from the script's folder."""
    return text.replace(f'File "{folder}{os.sep}', 'File "') if folder else text


def render_output(view: View) -> Text:
    out = Text(no_wrap=True, overflow="ignore")
    for event in view.events[: view.cursor + 1]:
        if isinstance(event, OutputWritten):
            out.append(event.text, style="red" if event.stream == "stderr" else "")
        elif isinstance(event, ErrorRaised):
            text = event.traceback or f"{event.type}: {event.message}\n"
            out.append(_relative_traceback(text, view.script_folder), style="bold red")
    if not out.plain:
        return Text("nothing printed yet", style="italic")
    if len(out) > MAX_CHARS:
        out = out[len(out) - MAX_CHARS :]
    out.rstrip()
    return out


class OutputView(ScrollableContainer):
    """stdout and stderr of the script, newest at the bottom."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._body = Static("", expand=False)
        self._shown: object = ()

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, view: View) -> None:
        latest = history.latest(view.events, view.cursor, (OutputWritten, ErrorRaised))
        key = (None if latest is None else latest.seq, view.script_folder)
        if key == self._shown:
            return
        self._shown = key
        self._body.update(render_output(view))
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
