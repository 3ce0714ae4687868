"""Importing torch's lazily loaded parts in the background while the user reads the screen.

The first optimizer a script constructs makes torch import ``torch._dynamo`` (about 1.4 s
here). Under the debugger that would freeze one key press for over a second, in the
middle of stepping. The interactive driver starts this import on a daemon thread as soon
as the app opens; if the script gets there first, Python's import lock makes it wait for
the same import rather than run it twice. Headless runs skip it: they pay what plain
``python`` would pay, when it would pay it.
"""

from __future__ import annotations

import importlib
import threading

#: Modules torch imports on first use that cost a noticeable pause.
LAZY_MODULES = ("torch._dynamo",)


def preload_in_background() -> threading.Thread:
    def run() -> None:
        for name in LAZY_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a missing optional part only costs the pause
                pass

    thread = threading.Thread(target=run, name="gradtui-preload", daemon=True)
    thread.start()
    return thread
