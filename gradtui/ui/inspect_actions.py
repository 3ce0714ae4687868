"""The keys that inspect the paused script: ``v`` ``u`` ``d`` ``:`` ``w`` and Enter on a tensor.

A mixin of the app, kept apart so that ``app.py`` holds the cursor and the engine link
and this module what is asked of the paused frame: the variables panel's frame, the
prompt and its answers, the watches asked again at each pause, and the tensor detail
view with the whole tensor read live. What can be read from the timeline is read there
(stepping back, a replay); only the live script is asked, and only when it is paused.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widgets import TabbedContent

from gradtui.model.cells import place
from gradtui.model.reports import Evaluate, Evaluated, Running
from gradtui.model.scope_lookup import resolve
from gradtui.model.scopes import history, stack_at
from gradtui.ui.evaluations import ENDED, NEEDS_LIVE, Evaluations, Then
from gradtui.ui.prompt import PromptScreen
from gradtui.ui.tensor_detail import TensorDetailScreen
from gradtui.ui.tensor_picker import TensorPicker
from gradtui.ui.view import View
from gradtui.ui.widgets.panel import EventPanel
from gradtui.ui.widgets.variables import Answer as VarAnswer
from gradtui.ui.widgets.variables import Shown, VariablesView

#: How long a key waits on the engine in the event loop before handing the wait to a thread.
QUICK_WAIT_SECONDS = 0.02

EVALUATE_HINT = ("Enter evaluates in the paused frame (u/d choose it) · !stmt runs a statement that changes "
                 "the script's state · Escape cancels")


class InspectActions(App[None]):
    """The inspecting half of ``GradtuiApp``, which provides the state and the engine link below."""

    evaluations: Evaluations
    frame_depth: int
    cursor: int
    running: bool
    drawn: View | None
    engine: Any
    _ended: Any

    def _take(self, report: Any) -> None:
        raise NotImplementedError

    def _wait_for_engine(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ keys

    def action_show_variables(self) -> None:
        self.query_one("#state-tabs", TabbedContent).active = "variables-tab"
        self.query_one(VariablesView).focus()

    def action_frame(self, step: int) -> None:
        view = self.drawn
        if view is None:
            return
        stack = stack_at(view.events, view.cursor)
        depth = self.frame_depth + step
        if not stack or not 0 <= depth < len(stack):
            self.notify("no frame further " + ("out" if step > 0 else "in") + " (u goes out to the caller, "
                        "d back in)", timeout=2)
            return
        self.frame_depth = depth
        ref = stack[depth]
        self.notify(f"frame {depth}: {ref.function} at {place(ref.file, ref.line, view.sources)}", timeout=2)
        self._show_variables(view)

    def action_evaluate(self) -> None:
        why = self._can_evaluate()
        if why is not None:
            self.notify(why, severity="warning", timeout=4)
            return
        self.push_screen(PromptScreen("Evaluate in the paused script", EVALUATE_HINT,
                                      "an expression, e.g. y.grad_fn.next_functions"), self._prompted)

    def _prompted(self, text: str | None) -> None:
        text = (text or "").strip()
        if not text:
            return
        statement = text.startswith("!")
        command = Evaluate(text=text[1:].strip() if statement else text, frame=self.frame_depth,
                           statement=statement)
        seq = self.cursor
        self.evaluate(command, lambda report: self._prompt_answered(report, seq))

    def _prompt_answered(self, report: Evaluated, seq: int) -> None:
        self.evaluations.keep(report, seq)
        if report.error is not None:
            self.notify(report.error, severity="error", timeout=5)
        self.action_show_variables()
        if self.drawn is not None:
            self._show_variables(self.drawn)

    def action_watch(self) -> None:
        self.push_screen(PromptScreen("Watch an expression (asked again at every pause)",
                                      "Enter adds it · an empty line clears the watches · Escape cancels",
                                      "an expression, e.g. loss.item()"), self._watched)

    def _watched(self, text: str | None) -> None:
        if text is None:
            return
        text = text.strip()
        if not text:
            self.evaluations.clear_watches()
            self.notify("watches cleared", timeout=2)
        else:
            self.evaluations.add_watch(text)
            self._ask_watches()
        self.action_show_variables()
        if self.drawn is not None:
            self._show_variables(self.drawn)

    def on_variables_view_tensor_chosen(self, message: VariablesView.TensorChosen) -> None:
        self._open_detail(message.shown)

    def on_event_panel_tensors_offered(self, message: EventPanel.TensorsOffered) -> None:
        names = message.names
        if len(names) == 1:
            self._open_named(names[0])
        else:
            self.push_screen(TensorPicker(names), self._picked)

    def _picked(self, name: str | None) -> None:
        if name is not None:
            self._open_named(name)

    def _open_named(self, name: str) -> None:
        view = self.drawn
        found = resolve(view.events, view.cursor, name) if view is not None else None
        if found is None or found.value.tensor is None:
            self.notify(f"{name} is not a tensor in the paused frames' variables (nor a parameter of one of "
                        "their modules)", severity="warning", timeout=4)
            return
        expression = found.name
        if found.path:
            getter = "get_parameter" if found.value.type == "Parameter" else "get_buffer"
            expression = f"{found.name}.{getter}({found.path[0]!r})"
        self._open_detail(Shown(("frame", found.name, *found.path), found.value, found.name, found.path,
                                expression, found.depth))

    def _open_detail(self, shown: Shown) -> None:
        view = self.drawn
        if view is None or shown.var is None:
            return
        stack = stack_at(view.events, view.cursor)
        entries = []
        if shown.key and shown.key[0] == "frame" and shown.depth < len(stack):
            entries = history(view.events, view.cursor, stack[shown.depth].frame, shown.name, shown.path)
        live = self._can_evaluate() is None and view.at_end and bool(shown.expression)
        title = shown.name + "".join(("." if not p.startswith("[") else "") + p for p in shown.path)
        screen = TensorDetailScreen(title or shown.expression, shown.var, entries, live)
        self.push_screen(screen)
        if live:
            self.evaluate(Evaluate(text=shown.expression, frame=shown.depth, detail=True),
                          lambda report: screen.take_detail(report.full, report.histogram, report.error))

    # ------------------------------------------------------------------ asking

    def _show_variables(self, view: View) -> None:
        asks = self.evaluations
        unanswered = NEEDS_LIVE if self.engine is None else None
        self.query_one(VariablesView).show(view, self.frame_depth, asks.watch_list(unanswered), tuple(asks.answers))

    def _can_evaluate(self) -> str | None:
        """Why nothing can be evaluated now, or None."""
        if self.engine is None:
            return NEEDS_LIVE
        if self._ended is not None:
            return ENDED
        if self.running:
            return "the script is running: wait for it to pause"
        return None

    def evaluate(self, command: Evaluate, then: Then) -> None:
        """Ask the paused script ``command``; ``then`` gets the answer."""
        first = self.evaluations.ask(command, then)
        if first is not None:
            self._send_evaluation(first)

    def _send_evaluation(self, command: Evaluate) -> None:
        assert self.engine is not None
        self.engine.send(command)
        report = self.engine.next_report(QUICK_WAIT_SECONDS)
        if isinstance(report, Running):
            self._wait_for_engine()
        else:
            self._take(report)

    def _ask_watches(self) -> None:
        if self._can_evaluate() is not None or not self.evaluations.watches:
            return
        seq = self.cursor
        for text in list(self.evaluations.watches):
            self.evaluate(Evaluate(text=text, frame=0), self._watch_answer(text, seq))

    def _watch_answer(self, text: str, seq: int) -> Then:
        return lambda report: self._watch_answered(text, report, seq)

    def _watch_answered(self, text: str, report: Evaluated, seq: int) -> None:
        self.evaluations.watch_answers[text] = VarAnswer(text, report.value, report.error, seq)
        if self.drawn is not None:
            self._show_variables(self.drawn)
