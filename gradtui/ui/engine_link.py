"""The app's side of a live run: what it needs of the engine, and the engine's reports as messages.

The engine never calls the app, and the app never reads what the engine is still writing.
The script's thread records events and, when it stops (paused at the gate, waiting for an
``input()`` answer, ended), makes a report (``gradtui.model.reports``). A worker thread of
the app waits for that report and posts it to the app as an ``EngineReported`` message; the
app's handler, on the UI thread, moves its bounds on to what the report counts and draws.
The app answers with commands: a navigation command, or an ``Answer`` to ``input()``.

So the flow is script → hooks → recorder → timeline → report → message → UI, and each
side writes only its own state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from textual.message import Message
from textual.worker import get_current_worker

from gradtui.model.navigation import Command
from gradtui.model.reports import Answer, Report, Running
from gradtui.model.timeline import Timeline

#: How long the worker waits for a report before posting progress (``Running``).
POLL_SECONDS = 0.1


class Engine(Protocol):
    """What the app needs of a live run (``gradtui.engine.session.Session`` provides it)."""

    timeline: Timeline

    def start(self) -> None: ...
    def send(self, command: Command | Answer) -> None: ...
    def next_report(self, timeout: float) -> Report:
        """The engine's next report, or ``Running`` if none came within ``timeout`` seconds."""
    def stop(self) -> None: ...


class EngineReported(Message):
    """A report of the engine, posted to the app by the worker that waited for it."""

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report


def relay_reports(engine: Engine, post: Callable[[Message], object]) -> None:
    """The worker's body: post each report, progress included, until one ends the wait.

    Every report but ``Running`` means the engine now waits for the app (or has ended),
    so the worker stops there; the app starts another after its next command.
    """
    worker = get_current_worker()
    while not worker.is_cancelled:
        report = engine.next_report(POLL_SECONDS)
        if worker.is_cancelled:
            return
        post(EngineReported(report))
        if not isinstance(report, Running):
            return
