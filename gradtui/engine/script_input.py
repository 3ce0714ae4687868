"""The script's ``input()``, answered by the driver: the app owns the terminal.

The ``input`` patch (``gradtui.engine.patches``) calls ``ScriptInput.ask`` in place of
the built-in. In the script's thread, with a handler set, the prompt goes to the driver
(after the output printed before it is recorded) and the answer comes back; the prompt
and answer are then written as a terminal would show them, so they become output events
like any other. This is the one place that talks to the driver from the script's thread
other than the sink: replacing the handler by messages changes this module only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from gradtui.engine.control import StopScript
from gradtui.engine.recorder import Recorder

#: Called in the script's thread with input()'s prompt; blocks until the answer, or returns
#: None for end of input (or when the driver is stopping the script).
InputHandler = Callable[[str], "str | None"]


class ScriptInput:
    """Answers the script's ``input()`` through ``handler``; None: read stdin as usual."""

    def __init__(self, recorder: Recorder, in_script_thread: Callable[[], bool],
                 handler: InputHandler | None) -> None:
        self._recorder = recorder
        self._in_script_thread = in_script_thread
        self.handler = handler

    def ask(self, original: Callable[[object], str], prompt: object) -> str:
        handler = self.handler
        if not self._in_script_thread() or handler is None:
            return original(prompt)
        text = "" if prompt is None else str(prompt)
        self._recorder.flush()
        answer = handler(text)
        if self._recorder.gate.stopping:
            raise StopScript
        if answer is None:
            raise EOFError("EOF when reading a line")  # what input() raises at end of input
        # What a terminal shows: the prompt, the answer typed after it, the new line.
        sys.stdout.write(f"{text}{answer}\n")
        return answer
