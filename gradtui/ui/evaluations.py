"""The app's questions to the paused script: the ``:`` prompt, the watches, a tensor's detail.

The engine answers one ``Evaluate`` at a time with an ``Evaluated`` report, and stays
paused where it was. Questions asked while one is out wait in order, each with what to
do with its answer. Watches are asked again at every pause and kept across steps; the
prompt's answers are kept, latest first, for the variables panel. Plain bookkeeping: the
app sends and receives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from gradtui.model.reports import Evaluate, Evaluated
from gradtui.ui.widgets.variables import Answer

#: The prompt's answers the panel keeps.
MAX_ANSWERS = 8
#: What the prompt says where there is no paused script to ask.
NEEDS_LIVE = "evaluation needs a live run: this is a replay (run gradtui SCRIPT.py to evaluate in the script)"
ENDED = "the script has ended: there is no paused frame to evaluate in"

Then = Callable[[Evaluated], None]


class Evaluations:
    """The questions out and waiting, the watch expressions and the latest answers."""

    def __init__(self) -> None:
        self.waiting: deque[tuple[Evaluate, Then]] = deque()
        self.out = False
        self.watches: list[str] = []
        self.watch_answers: dict[str, Answer] = {}
        self.answers: list[Answer] = []

    def ask(self, command: Evaluate, then: Then) -> Evaluate | None:
        """Queue ``command``; the command to send now, if none is out."""
        self.waiting.append((command, then))
        return self._next()

    def answered(self, report: Evaluated) -> Evaluate | None:
        """Hand ``report`` to its question; the next command to send, if one waits."""
        self.out = False
        if self.waiting:
            _, then = self.waiting.popleft()
            then(report)
        return self._next()

    def _next(self) -> Evaluate | None:
        if self.out or not self.waiting:
            return None
        self.out = True
        return self.waiting[0][0]

    def keep(self, report: Evaluated, seq: int) -> Answer:
        answer = Answer(report.text, report.value, report.error, seq)
        self.answers = [answer, *self.answers][:MAX_ANSWERS]
        return answer

    def add_watch(self, text: str) -> None:
        if text not in self.watches:
            self.watches.append(text)

    def clear_watches(self) -> None:
        self.watches.clear()
        self.watch_answers.clear()

    def watch_list(self, unanswered: str | None = None) -> tuple[Answer, ...]:
        """The watches as the panel shows them; ``unanswered`` for those not evaluated (a replay)."""
        out = []
        for text in self.watches:
            answer = self.watch_answers.get(text)
            out.append(answer if answer is not None else Answer(text, None, unanswered or "not evaluated yet", -1))
        return tuple(out)
