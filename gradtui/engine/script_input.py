"""The script's ``input()``, answered by the driver: the app owns the terminal.

The ``input`` patch (``gradtui.engine.patches``) calls ``ScriptInput.ask`` in place of
the built-in. In the script's thread of a run whose driver answers input (the app), the
output printed before is recorded, then the script's thread waits at the gate with an
``InputWanted`` report until the driver sends an ``Answer``; the prompt and answer are
then written as a terminal would show them, so they become output events like any other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from gradtui.engine.control import StopScript
from gradtui.engine.recorder import Recorder


class ScriptInput:
    """Answers the script's ``input()`` from the driver (``from_driver``), else from stdin as usual."""

    def __init__(self, recorder: Recorder, in_script_thread: Callable[[], bool], *, from_driver: bool) -> None:
        self._recorder = recorder
        self._in_script_thread = in_script_thread
        self.from_driver = from_driver

    def ask(self, original: Callable[[object], str], prompt: object) -> str:
        if not self._in_script_thread() or not self.from_driver:
            return original(prompt)
        text = "" if prompt is None else str(prompt)
        self._recorder.flush()
        answer = self._recorder.gate.ask(text)
        if self._recorder.gate.stopping:
            raise StopScript
        if answer is None:
            raise EOFError("EOF when reading a line")  # what input() raises at end of input
        # What a terminal shows: the prompt, the answer typed after it, the new line.
        sys.stdout.write(f"{text}{answer}\n")
        return answer
