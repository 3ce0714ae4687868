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

While the script waits here, the driver may ``send(Evaluate(...))`` any number of times:
the script's thread (grad mode and autocast are per thread) runs the gate's ``evaluator``
(``gradtui.engine.evaluation``) and reports ``Evaluated``, and stays where it was until an
ordinary command. Events made meanwhile (the note of an ``!`` statement) pass the gate
without pausing it. An ``Evaluate`` sent when the script is not waiting is answered at
once with an error, and the report before it stays.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Mapping
from types import MappingProxyType

from gradtui.model.events import Event
from gradtui.model.navigation import Command, stopping_kinds, wants_pause
from gradtui.model.reports import Answer, Ended, Evaluate, Evaluated, InputWanted, Paused, Report, Running
from gradtui.model.timeline import ErrorInfo

_POLL_SECONDS = 0.05

#: Runs an ``Evaluate`` in the script's thread at a pause (its ``count`` is filled in by the gate).
Evaluator = Callable[[Evaluate], Evaluated]


class StopScript(BaseException):
    """Raised in the script's thread to end it when the driver asked to stop.

    A BaseException, like KeyboardInterrupt, so that a script's ``except Exception``
    does not swallow it.
    """


def _free(command: Command) -> bool:
    """A command no event can end: the script runs without looking at its events."""
    return stopping_kinds(command) == frozenset()


def _refused(request: Evaluate, error: str) -> Evaluated:
    return Evaluated(text=request.text, value=None, error=error, count=0)


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
        #: Set by the session: what answers ``Evaluate`` (none: every evaluation is an error).
        self.evaluator: Evaluator | None = None
        self._requests: deque[Evaluate] = deque()
        #: The generation the script's thread waits in, while it waits; None when it runs.
        self._waiting_in: int | None = None
        #: True while the script's thread evaluates: its events then pass without a pause.
        self._evaluating = False
        #: An ``Evaluate`` answered at once (the script was not waiting), read once.
        self._immediate: Evaluated | None = None

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
        if self.free_running or self._evaluating:
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
        """Hold the script's thread until the driver sends a command (or stops the run),
        evaluating what it asks for meanwhile; called holding the condition's lock."""
        self._waiting_in = generation
        try:
            while True:
                if self.stopping:
                    raise StopScript
                if self._requests:
                    self._evaluate(self._requests.popleft())
                elif self._generation != generation:
                    return
                else:
                    self._cond.wait(_POLL_SECONDS)
        except StopScript:
            self._paused_at = None
            self._report = None
            raise
        finally:
            self._waiting_in = None

    def _evaluate(self, request: Evaluate) -> None:
        """Run one evaluation without the lock (the driver may send and read meanwhile), then report it."""
        self._evaluating = True
        self._cond.release()
        try:
            try:
                if self.evaluator is None:
                    result = _refused(request, "this run cannot evaluate expressions")
                else:
                    result = self.evaluator(request)
            except StopScript:
                raise
            except Exception as error:  # gradtui's own failure: said, never raised into the script
                result = _refused(request, f"gradtui could not evaluate this: {type(error).__name__}: {error}")
            finally:
                self._evaluating = False
            self._before_report()  # the statistics of its tensors, the note of a statement
        finally:
            self._cond.acquire()
        self._report = dataclasses.replace(result, count=self._count())
        self._cond.notify_all()

    def _copy_sources(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self._sources()))

    def send(self, command: Command | Answer | Evaluate) -> None:
        with self._cond:
            if isinstance(command, Evaluate):
                self._ask_evaluation(command)
                return
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

    def _ask_evaluation(self, request: Evaluate) -> None:
        """Queue ``request`` for the waiting script's thread, or answer at once that it is not waiting."""
        if self._waiting_in == self._generation and not self.stopping:
            self._requests.append(request)
            self._report = None  # the next report is its Evaluated
        else:
            self._immediate = dataclasses.replace(_refused(request, (
                "the run has ended: expressions are evaluated while the script is paused"
                if isinstance(self._report, Ended) else
                "the script is running: expressions are evaluated while it is paused")), count=self._count())
        self._cond.notify_all()

    def next_report(self, timeout: float) -> Report:
        """The script's thread's report once it stops; ``Running`` if it has not within ``timeout``."""
        with self._cond:
            if self._cond.wait_for(lambda: self._report is not None or self._immediate is not None, timeout):
                if self._immediate is not None:
                    answer, self._immediate = self._immediate, None
                    return answer
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
