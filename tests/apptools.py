"""Driving the debugger app in tests: build it on a scenario, press keys, read the panels.

Every wait is bounded: the engine runs in a thread, so a key that resumes it is followed
by a wait for the app to settle (a new view drawn, the engine not running), never by a
bare sleep.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from gradtui.model.timeline import Timeline
from gradtui.ui.app import GradtuiApp
from gradtui.ui.drawn_lines import DrawnLines
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel
from gradtui.ui.widgets.source import SourceView
from gradtui.ui.widgets.status import StatusLine

THEME = "textual-dark"
SETTLE_SECONDS = 20.0


def live_app(script: str | Path, *args: str, watch: tuple[str, ...] = ()) -> GradtuiApp:
    """The debugger as ``gradtui SCRIPT`` opens it: the engine records the run, the app reads the recording."""
    from gradtui.engine.script import load_script
    from gradtui.engine.session import Session
    from gradtui.model.store.reader import Recording
    from gradtui.recordings import new_recording_path

    path = new_recording_path(str(script))
    session = Session(load_script(str(script)), list(args), start_paused=True, watch=watch, ask_input=True,
                      record=path)
    return GradtuiApp(Recording(path).timeline(), session, watch=watch, theme=THEME)


def run_of(app: GradtuiApp) -> Timeline:
    """How the engine says the run went: after a quit the app has no report of it, the engine does."""
    from gradtui.engine.session import Session

    assert isinstance(app.engine, Session)
    return app.engine.timeline


async def wait_until(pilot: Pilot[None], condition: Callable[[], bool], what: str,
                     timeout: float = SETTLE_SECONDS) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.02)
    await pilot.pause()


async def started(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, GradtuiApp)
    await wait_until(pilot, lambda: app.drawn is not None and not app.running, "the first pause")


async def press(pilot: Pilot[None], *keys: str) -> None:
    """Press each key and wait until the app has settled on its result."""
    app = pilot.app
    assert isinstance(app, GradtuiApp)
    for key in keys:
        settled = _settled_after(app, app.drawn)
        await pilot.press(key)
        await wait_until(pilot, settled, f"the key {key!r} to settle")


def _settled_after(app: GradtuiApp, before: View | None) -> Callable[[], bool]:
    return lambda: app.drawn is not before and not app.running


def _plain(renderable: object, width: int = 200) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _tree_lines(node: TreeNode[object], depth: int = 0) -> list[str]:
    label = node.label
    lines = ["  " * depth + str(getattr(label, "plain", label))]
    for child in node.children:
        lines.extend(_tree_lines(child, depth + 1))
    return lines


def panel_text(app: GradtuiApp, selector: str) -> str:
    """The plain text a panel shows (``#grads``, ``#graph``, ``#status`` …)."""
    widget: Widget = app.query_one(selector)
    if isinstance(widget, Tree):
        return "\n".join(_tree_lines(widget.root))
    if isinstance(widget, StatusLine):
        return _plain(widget.text)
    if isinstance(widget, SourceView):
        return _plain(widget.shown_text())
    if isinstance(widget, EventPanel):
        return _plain(widget.query_one(DrawnLines).content)
    static = widget if isinstance(widget, Static) else widget.query_one(Static)
    return _plain(static.content)
