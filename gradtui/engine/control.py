"""The gate where the script's thread waits for the driver's commands (``gradtui.model.navigation``).

After every event the script's thread passes the gate: it either runs on or, when the
current command says so, pauses until the driver (the TUI, a test) sends the next one.
Every wait is a bounded wait in a loop that checks for a stop, so a quitting app or a
failing test never leaves a thread blocked for good. The engine never calls its driver:
it only reports events through a sink and waits here.

Each time the script's thread stops here (paused after an event, waiting for the answer
to ``input()``, ended), it first finishes what the driver may read (the statistics of the
tensors captured so far) and leaves a report (``gradtui.model.reports``) that the driver
collects with ``next_report``: the driver reads the timeline only as far as that report
counts, so it never reads what the script's thread is still writing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType

from gradtui.model.events import Event
from gradtui.model.navigation import Command, stopping_kinds, wants_pause
from gradtui.model.reports import Answer, Ended, InputWanted, Paused, Report, Running
from gradtui.model.timeline import ErrorInfo

_POLL_SECONDS = 0.05


class StopScript(BaseException):
    """Raised in the script's thread to end it when the driver asked to stop.

    A BaseException, like KeyboardInterrupt, so that a script's ``except Exception``
    does not swallow it.
    """


def _free(command: Command) -> bool:
    """A command no event can end: the script runs without looking at its events."""
    return stopping_kinds(command) == frozenset()


def _nothing() -> None:
    pass


def _no_sources() -> Mapping[str, str]:
    return {}


class Gate:
    """Where the script's thread pauses between events; thread-safe.

    ``count`` says how many events are recorded, ``sources`` the script's files seen so
    far, and ``before_report`` finishes, in the script's thread, what a report hands over
    (the capture's pending statistics).
    """

    def __init__(self, command: Command, cancelled: Callable[[], bool] | None = None, *,
                 count: Callable[[], int] = lambda: 0, sources: Callable[[], Mapping[str, str]] = _no_sources,
                 before_report: Callable[[], None] | None = None) -> None:
        self._cond = threading.Condition()
        self._command: Command = command
        self._generation = 0
        self._paused_at: Event | None = None
        self._report: Report | None = None
        self._answer: Answer | None = None
        self._stopping = False
        self._cancelled = cancelled or (lambda: False)
        self._count = count
        self._sources = sources
        self._before_report = before_report or _nothing
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
        self._before_report()
        with self._cond:
            generation = self._generation
            self._paused_at = event
            self._report = Paused(seq=event.seq, count=event.seq + 1, sources=self._copy_sources())
            self._cond.notify_all()
            self._wait_for_driver(generation)
            self._paused_at = None

    def ask(self, prompt: str) -> str | None:
        """The script's ``input(prompt)``: wait for the driver's ``Answer`` (None: end of input)."""
        self._before_report()
        with self._cond:
            generation = self._generation
            self._answer = None
            self._report = InputWanted(prompt=prompt, count=self._count(), sources=self._copy_sources())
            self._cond.notify_all()
            self._wait_for_driver(generation)
            answer, self._answer = self._answer, None
        return answer.text if answer is not None else None

    def end(self, status: str, exit_code: int | None, error: ErrorInfo | None = None) -> None:
        """The script's thread has ended: the last report, which stays."""
        self._before_report()
        with self._cond:
            self._report = Ended(count=self._count(), status=status, exit_code=exit_code,
                                 sources=self._copy_sources(), error=error)
            self._cond.notify_all()

    def _wait_for_driver(self, generation: int) -> None:
        """Hold the script's thread until the driver sends something (or stops the run)."""
        while self._generation == generation:
            if self.stopping:
                self._paused_at = None
                self._report = None
                raise StopScript
            self._cond.wait(_POLL_SECONDS)

    def _copy_sources(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self._sources()))

    def send(self, command: Command | Answer) -> None:
        with self._cond:
            if isinstance(command, Answer):
                self._answer = command
            else:
                self._command = command
                self.free_running = _free(command)
            # Cleared here, not when the script's thread wakes, so that a wait_paused()
            # or next_report() right after send() waits for the *next* stop.
            self._paused_at = None
            if not isinstance(self._report, Ended):
                self._report = None
            self._generation += 1
            self._cond.notify_all()

    def next_report(self, timeout: float) -> Report:
        """The script's thread's report once it stops; ``Running`` if it has not within ``timeout``."""
        with self._cond:
            if self._cond.wait_for(lambda: self._report is not None, timeout):
                assert self._report is not None
                return self._report
            return Running(count=self._count())

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
