"""The default driver: the debugger app on a live run of the script.

The engine starts paused before the script's first line; the app owns the main thread and
sends the engine its commands. When the app closes, the script is stopped at its next
event and its thread joined, so the process never exits under a running script.
"""

from __future__ import annotations

import gc
import os
import sys

from gradtui.engine.notes import GradNormLimits
from gradtui.engine.preload import preload_in_background
from gradtui.engine.script import Script
from gradtui.engine.session import Session
from gradtui.model.stops import EventStop
from gradtui.ui.app import GradtuiApp

#: How long a quitting app waits for the script to reach its next event. The screen is
#: already restored and nothing is left to save, so a script stuck in one long C call
#: (``time.sleep``) is left behind at once rather than holding the user's prompt.
_STOP_GRACE_SECONDS = 0.5


def run(script: Script, args: list[str], *, watch: tuple[str, ...] = (), theme: str = "textual-dark",
        max_values: int = 64, limits: tuple[float | None, float | None] | None = None,
        stops: tuple[EventStop, ...] = ()) -> int:
    session = Session(script, args, start_paused=True, ask_input=True, echo_output=False, max_values=max_values,
                      watch=watch,
                      grad_norm_limits=GradNormLimits(*limits) if limits else None)
    app = GradtuiApp(session.timeline, session, watch=watch, theme=theme, stops=stops)
    preload_in_background()
    try:
        app.run()
    finally:
        session.stop()
    if not session.join(_STOP_GRACE_SECONDS):
        # The script is inside one long C operation; nothing is left to save, so leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(app.return_code or 0)
    gc.freeze()  # as in headless.run: skip walking every recorded object at exit
    # Non-zero only when the app itself failed (Textual has restored the terminal and
    # printed the error by then).
    return app.return_code or 0
