"""The gate where the script's thread waits for the driver's commands (``gradtui.model.navigation``).

After every event the script's thread passes the gate: it either runs on or, when the
current command says so, pauses until the driver (the TUI, a test) sends the next one.
Every wait is a bounded wait in a loop that checks for a stop, so a quitting app or a
failing test never leaves a thread blocked for good. The engine never calls its driver:
it only reports events through a sink and waits here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gradtui.model.events import Event
from gradtui.model.navigation import Command, stopping_kinds, wants_pause

_POLL_SECONDS = 0.05


class StopScript(BaseException):
    """Raised in the script's thread to end it when the driver asked to stop.

    A BaseException, like KeyboardInterrupt, so that a script's ``except Exception``
    does not swallow it.
    """


def _free(command: Command) -> bool:
    """A command no event can end: the script runs without looking at its events."""
    return stopping_kinds(command) == frozenset()


class Gate:
    """Where the script's thread pauses between events; thread-safe."""

    def __init__(self, command: Command, cancelled: Callable[[], bool] | None = None) -> None:
        self._cond = threading.Condition()
        self._command: Command = command
        self._generation = 0
        self._paused_at: Event | None = None
        self._stopping = False
        self._cancelled = cancelled or (lambda: False)
        self.free_running = _free(command)

    @property
    def stopping(self) -> bool:
        return self._stopping or self._cancelled()

    @property
    def paused_at(self) -> Event | None:
        return self._paused_at

    def passing(self, event: Event) -> None:
        """Called by the script's thread after each event; may block until the next command."""
        if self._stopping:
            raise StopScript
        if self.free_running:
            return
        with self._cond:
            if not wants_pause(self._command, event):
                return
            generation = self._generation
            self._paused_at = event
            self._cond.notify_all()
            while self._generation == generation:
                if self.stopping:
                    self._paused_at = None
                    raise StopScript
                self._cond.wait(_POLL_SECONDS)
            self._paused_at = None

    def send(self, command: Command) -> None:
        with self._cond:
            self._command = command
            # Cleared here, not when the script's thread wakes, so that a wait_paused()
            # right after send() waits for the *next* pause.
            self._paused_at = None
            self.free_running = _free(command)
            self._generation += 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def wait_paused(self, timeout: float, finished: Callable[[], bool]) -> bool:
        """Wait until the script pauses or ends; False when ``timeout`` seconds ran out."""
        with self._cond:
            return self._cond.wait_for(lambda: self._paused_at is not None or finished(), timeout)

    def wake(self) -> None:
        """Let waiters re-check (the script's thread calls this when it ends)."""
        with self._cond:
            self._cond.notify_all()
