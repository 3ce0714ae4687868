"""The default driver: the debugger app on a live run of the script.

The engine starts paused before the script's first line; the app owns the main thread and
sends the engine its commands. The run is recorded as it goes (by default to the
automatic recordings folder, ``gradtui.recordings``), and the app reads the recording:
its memory stays bounded on a run of any length, and a crash of the app or of the
terminal loses nothing that was committed. When the app closes, the script is stopped at its next
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
from gradtui.model.json_values import TimelineFormatError
from gradtui.model.stops import EventStop
from gradtui.model.store.reader import Recording
from gradtui.recordings import CacheConfigError, new_recording_path
from gradtui.ui.app import GradtuiApp

#: How long a quitting app waits for the script to reach its next event. The screen is
#: already restored and nothing is left to save, so a script stuck in one long C call
#: (``time.sleep``) is left behind at once rather than holding the user's prompt.
_STOP_GRACE_SECONDS = 0.5


def run(script: Script, args: list[str], *, watch: tuple[str, ...] = (), theme: str = "textual-dark",
        max_values: int = 64, limits: tuple[float | None, float | None] | None = None,
        stops: tuple[EventStop, ...] = (), record: str | None = None, keep_steps: int | None = None,
        variables: bool = True) -> int:
    """``record``: where the run's recording goes (default: a new one in the automatic recordings folder);
    ``variables``: record the script's variables at each line (``--no-variables`` turns it off)."""
    try:
        path = record if record is not None else str(new_recording_path(script.path))
        session = Session(script, args, start_paused=True, ask_input=True, echo_output=False,
                          max_values=max_values, watch=watch,
                          grad_norm_limits=GradNormLimits(*limits) if limits else None, record=path,
                          keep_steps=keep_steps, variables=variables,
                          options={"mode": "debugger", "max_values": max_values, "watch": list(watch),
                                   "keep_steps": keep_steps, "variables": variables})
        # The app reads the recording, never the engine's memory: what it shows of a long
        # run is a window of decoded events, whatever the length.
        recording = Recording(path)
        timeline = recording.timeline()
    except (OSError, CacheConfigError, TimelineFormatError) as exc:
        sys.stderr.write(f"gradtui: {exc}\n")
        return 2
    app = GradtuiApp(timeline, session, watch=watch, theme=theme, stops=stops)
    preload_in_background()
    try:
        app.run()
    finally:
        session.stop()
        recording.close()
    stuck = not session.join(_STOP_GRACE_SECONDS)
    try:
        session.close_recording()
    except OSError as exc:
        sys.stderr.write(f"gradtui: {exc}\n")
    if stuck:
        # The script is inside one long C operation; the recording is closed, so leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(app.return_code or 0)
    gc.freeze()  # as in headless.run: skip walking every recorded object at exit
    # Non-zero only when the app itself failed (Textual has restored the terminal and
    # printed the error by then).
    return app.return_code or 0
