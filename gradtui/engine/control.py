"""Commands a driver gives the engine, and the gate where the script's thread waits for them.

After every event the script's thread passes the gate: it either runs on or, when the
current command says so, pauses until the driver (the TUI, a test) sends the next one.
Every wait is a bounded wait in a loop that checks for a stop, so a quitting app or a
failing test never leaves a thread blocked for good. The engine never calls its driver:
it only reports events through a sink and waits here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from gradtui.model.events import Event, LineReached
from gradtui.model.stops import EventStop, first_reason

_POLL_SECONDS = 0.05


class StopScript(BaseException):
    """Raised in the script's thread to end it when the driver asked to stop.

    A BaseException, like KeyboardInterrupt, so that a script's ``except Exception``
    does not swallow it.
    """


@dataclass(frozen=True, slots=True)
class StepOp:
    """Run to the next event of any kind."""


@dataclass(frozen=True, slots=True)
class NextLine:
    """Run to the next line of the script's code."""


@dataclass(frozen=True, slots=True)
class NextEvent:
    """Run to the next backward, zero_grad, step or update by hand."""


@dataclass(frozen=True, slots=True)
class Continue:
    """Run until a line breakpoint ``(file, line)`` is reached, an event ``stops`` it, or the end."""

    breakpoints: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    stops: tuple[EventStop, ...] = ()


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop before the first event: how the TUI starts."""


Command = StepOp | NextLine | NextEvent | Continue | Pause


def wants_pause(command: Command, event: Event) -> bool:
    """Whether ``event`` ends the run that ``command`` started."""
    if isinstance(command, (StepOp, Pause)):
        return True
    if isinstance(command, NextLine):
        return isinstance(event, LineReached)
    if isinstance(command, NextEvent):
        return event.is_milestone
    if isinstance(event, LineReached) and (event.file, event.line) in command.breakpoints:
        return True
    return bool(command.stops) and first_reason(command.stops, event) is not None


def _free(command: Command) -> bool:
    """A command no event can end: the script runs without looking at its events."""
    return isinstance(command, Continue) and not command.breakpoints and not command.stops


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
