"""The debugger app: panels, keys, and the cursor that walks the timeline.

The app shows one event at a time (the cursor) of those the engine has reported.
Moving the cursor back, or forward through events it already has, only redraws; moving
forward past the newest sends the engine a command, and the engine's next report comes
back as a message (``gradtui.ui.engine_link``). Where each key goes is decided in the
model (``gradtui.model.navigation``); the actions here only apply it. A replay is the
same app with a finished timeline and no engine.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol, assert_never

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.widgets import Footer, TabbedContent, TabPane

from gradtui.model import navigation
from gradtui.model.cells import place
from gradtui.model.index import EventIndex, IndexedEvents
from gradtui.model.json_values import TimelineFormatError
from gradtui.model.navigation import Command, Cursor, EndOfRun, NoEarlier, Resume
from gradtui.model.reports import Answer, Ended, Evaluated, InputWanted, Paused, Report, Running
from gradtui.model.stops import EventStop
from gradtui.model.timeline import Timeline
from gradtui.ui.ask import AskScreen
from gradtui.ui.cell_keys import CellKeys
from gradtui.ui.engine_link import Engine, EngineReported, relay_reports
from gradtui.ui.evaluations import Evaluations
from gradtui.ui.help import HelpScreen
from gradtui.ui.idle_collections import IdleCollections
from gradtui.ui.inspect_actions import QUICK_WAIT_SECONDS, InspectActions
from gradtui.ui.keys import KEYS
from gradtui.ui.stop_commands import StopCommands
from gradtui.ui.view import View
from gradtui.ui.widgets.grads import GradHistory
from gradtui.ui.widgets.graph import GraphView
from gradtui.ui.widgets.optimizer import OptimizerView
from gradtui.ui.widgets.output import OutputView
from gradtui.ui.widgets.params import ParamsView
from gradtui.ui.widgets.plot import LossPlot
from gradtui.ui.widgets.source import SourceView
from gradtui.ui.widgets.status import StatusLine
from gradtui.ui.widgets.variables import VariablesView


class Panel(Protocol):
    """Every panel draws itself from a ``View``."""

    def show(self, view: View) -> None: ...


class GradtuiApp(InspectActions, CellKeys):
    """Step through a script (``engine``) or a recorded ``timeline`` forward and back."""

    CSS_PATH = "app.tcss"
    TITLE = "gradtui"
    #: The palette (ctrl+p) holds the breakpoints on events, and nothing else of ours.
    COMMANDS = {StopCommands}

    BINDINGS = [
        Binding(key.keys, key.action, key.label, show=key.footer, key_display=key.key_display)
        for key in KEYS if key.app_binding
    ]

    def __init__(self, timeline: Timeline, engine: Engine | None = None, *, watch: tuple[str, ...] = (),
                 theme: str = "textual-dark", stops: tuple[EventStop, ...] = ()) -> None:
        super().__init__()
        self.timeline = timeline
        #: The events the engine has reported (all of a replay's), indexed by kind as they
        #: grow: every panel's question is a bisection, or for a recording an indexed query.
        events = timeline.events
        self.events: EventIndex = (events if isinstance(events, EventIndex)
                                   else IndexedEvents(events, known=0 if engine is not None else None))
        self.engine = engine
        self.watched = watch
        self._theme_name = theme
        self.cursor = 0
        #: Inside a backward pass: the index of the node on screen in its ``nodes``, else None.
        self.node_cursor: int | None = None
        self.running = engine is not None
        self.breakpoints: set[tuple[str, int]] = set()
        #: Breakpoints on events (the palette, or --break-on), in the order they were set.
        self.stops: list[EventStop] = list(dict.fromkeys(stops))
        #: The view on screen: what the keys act on; a new one for every redraw.
        self.drawn: View | None = None
        #: The script's sources and, once it ended, how: as the engine last reported them.
        self._sources: Mapping[str, str] = timeline.sources if engine is None else {}
        self._ended: Ended | None = None
        #: Events counted by the latest progress report, while the engine runs.
        self._progress: int | None = None
        self._frozen = False
        #: Full garbage collections wait for a moment no key waits for.
        self.collections = IdleCollections()
        self._continuing = False  # the engine runs for a ``c``: say which event stop ended it
        self._quitting = threading.Event()
        #: The frame the variables panel and the prompt look at: 0 the innermost, u/d move.
        self.frame_depth = 0
        self.evaluations = Evaluations()
        #: Why the app ended early: a recording that turned out damaged where a key read it.
        self.failure: str | None = None

    def compose(self) -> ComposeResult:
        with Container(id="panels"):
            yield SourceView(id="source")
            yield GraphView(id="graph")
            yield GradHistory(id="grads")
            with TabbedContent(id="state-tabs"):
                with TabPane("Parameters", id="params-tab"):
                    yield ParamsView(id="params")
                with TabPane("Optimizer", id="optimizer-tab"):
                    yield OptimizerView(id="optimizer")
                with TabPane("Variables", id="variables-tab"):
                    yield VariablesView(id="variables")
            yield OutputView(id="output")
            yield LossPlot(id="plot")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.theme = self._theme_name
        self.collections.start()
        self.set_interval(0.25, self._collect_when_idle)
        self.sub_title = os.path.basename(self.timeline.script)
        titles = {"#grads": "Gradients", "#output": "Output", "#state-tabs": "Parameters · Optimizer · Variables"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        if self.engine is not None:
            self.engine.start()
            self._wait_for_engine()
        else:
            self._settle(0)  # a replay opens where the run began

    def _collect_when_idle(self) -> None:
        self.collections.tick(engine_running=self.running and self.engine is not None)

    # ------------------------------------------------------------------ drawing

    def view(self) -> View:
        tl = self.timeline
        ended = self._ended
        if self.engine is None:
            finished, status, exit_code = True, tl.status, tl.exit_code
        else:
            finished = ended is not None and not self.running
            status, exit_code = (ended.status, ended.exit_code) if ended is not None else ("running", None)
        return View(events=self.events, cursor=self.cursor, graph=tl.graph, sources=self._sources, finished=finished,
                    status=status, exit_code=exit_code, running=self.running, progress=self._progress,
                    breakpoints=frozenset(self.breakpoints), watch=self.watched, node=self.node_cursor,
                    script_folder=os.path.dirname(tl.script))

    def redraw(self) -> None:
        view = self.drawn = self.view()
        panels: tuple[Panel, ...] = (
            self.query_one(SourceView), self.query_one(GraphView), self.query_one(GradHistory),
            self.query_one(ParamsView), self.query_one(OptimizerView), self.query_one(OutputView),
            self.query_one(LossPlot), self.query_one(StatusLine),
        )
        for panel in panels:
            panel.show(view)
        self._show_variables(view)
        self.collections.touched()

    def _settle(self, cursor: int) -> None:
        """The engine waits for the app (or there is none): show event ``cursor``."""
        if self._quitting.is_set():
            return  # the screen is being taken down
        self.node_cursor = None
        if not self._frozen and (self.engine is None or self._ended is not None):
            # The timeline is complete and immutable from here on: keep the garbage
            # collector from walking it (and torch's objects) again. Each full
            # collection otherwise stalled a key press by 120-170 ms.
            gc.freeze()
            self._frozen = True
        self.running = False
        self._progress = None
        self.cursor = cursor
        self.frame_depth = 0
        self.redraw()
        self._ask_watches()
        if self._continuing:
            self._continuing = False
            self._say_why_stopped()

    def on_tabbed_content_tab_activated(self) -> None:
        self.redraw()

    # ------------------------------------------------------------------ the engine

    def _resume(self, command: Command | Answer) -> None:
        assert self.engine is not None
        self.cursor = max(0, len(self.events) - 1)
        self.running = True
        self.engine.send(command)
        # Most commands end within a millisecond (one op, one line): take the report in
        # this same tick. Longer runs are waited for on a thread so the screen stays responsive.
        report = self.engine.next_report(QUICK_WAIT_SECONDS)
        self._take(report)
        if isinstance(report, Running):
            self._wait_for_engine()

    def _wait_for_engine(self) -> None:
        assert self.engine is not None
        engine, post = self.engine, self.post_message
        self.run_worker(lambda: relay_reports(engine, post), thread=True, exclusive=True, group="engine")

    def on_engine_reported(self, message: EngineReported) -> None:
        self._take(message.report)

    def _take(self, report: Report) -> None:
        """Move on to what ``report`` says the engine has finished with, and show it."""
        if self._quitting.is_set():
            return
        match report:
            case Running():
                if self.running:
                    self._progress = report.count
                    self.query_one(StatusLine).show(self.view())
            case Paused():
                self._know(report.count, report.sources)
                self._settle(report.seq)
            case InputWanted():
                self._know(report.count, report.sources)
                self.push_screen(AskScreen(report.prompt), self._answer)
            case Ended():
                self._ended = report
                # A live run's timeline is its recording as opened: it learns the end from the report.
                tl = self.timeline
                tl.status, tl.exit_code, tl.error = report.status, report.exit_code, report.error
                self._know(report.count, report.sources)
                self._settle(max(0, report.count - 1))
            case Evaluated():
                self._evaluated(report)
            case _:
                assert_never(report)

    def _evaluated(self, report: Evaluated) -> None:
        """An answer of the paused engine to the prompt, a watch or a tensor's detail."""
        self._know(report.count, self._sources)
        following = self.evaluations.answered(report)
        if following is not None:
            self._send_evaluation(following)

    def _know(self, count: int, sources: Mapping[str, str]) -> None:
        self.events.know(count)
        self._sources = sources

    def _answer(self, text: str | None) -> None:
        """The user answered the script's ``input()`` (None: end of input): the script runs on."""
        if self.engine is not None and not self._quitting.is_set():
            self._resume(Answer(text=text))

    # ------------------------------------------------------------------ keys

    def _place(self, cursor: Cursor) -> None:
        self.cursor, self.node_cursor = cursor.event, cursor.node
        self.frame_depth = 0

    def _cannot_move_on(self) -> bool:
        """Whether a forward key must wait (the script runs, or an evaluation is out); says so."""
        if self.running:
            self.notify("the script is still running; wait for it to pause", severity="warning", timeout=2)
            return True
        if self.evaluations.out:
            self.notify("still evaluating in the script; wait for its answer", severity="warning", timeout=2)
            return True
        return False

    def action_forward(self, kind: str) -> None:
        if self._cannot_move_on():
            return
        more_coming = self.engine is not None and self._ended is None
        move = navigation.forward(self.events, Cursor(self.cursor, self.node_cursor), kind, more_coming=more_coming,
                                  breakpoints=self.breakpoints, stops=self.stops)
        self._go(move, continuing=kind == "continue")

    def _go(self, move: Cursor | Resume | EndOfRun, *, continuing: bool) -> None:
        """Take a forward move: over the known events, or by asking the engine to run on."""
        self._continuing = continuing
        if isinstance(move, Resume):
            self.node_cursor = None
            self._resume(move.command)
            return
        self._place(move.cursor if isinstance(move, EndOfRun) else move)
        self.redraw()
        if isinstance(move, EndOfRun):
            self.notify(move.message, timeout=3)
        elif self._continuing:
            self._say_why_stopped()

    def action_rewind(self, kind: str) -> None:
        move = navigation.back(self.events, Cursor(self.cursor, self.node_cursor), kind)
        if isinstance(move, NoEarlier):
            self.notify(move.message, timeout=3)
        self._place(move.cursor if isinstance(move, NoEarlier) else move)
        self.redraw()

    def action_toggle_breakpoint(self) -> None:
        event = self.drawn.current if self.drawn is not None else None
        if event is None:
            return
        spot = (event.file, event.line)
        if spot in self.breakpoints:
            self.breakpoints.discard(spot)
            self.notify(f"breakpoint removed: {event.file} {place(event.file, event.line, self._sources)}", timeout=2)
        else:
            self.breakpoints.add(spot)
            self.notify(f"breakpoint set: {event.file} {place(event.file, event.line, self._sources)}; c runs to it",
                        timeout=2)
        self.redraw()

    def action_toggle_plot_scale(self) -> None:
        self.query_one(LossPlot).toggle_scale()

    def action_toggle_plot_lr(self) -> None:
        self.query_one(LossPlot).toggle_lr()

    def toggle_stop(self, stop: EventStop) -> None:
        """Turn a breakpoint on events on or off (from the command palette)."""
        if stop in self.stops:
            self.stops.remove(stop)
            self.notify(f"no longer breaking on {stop}", timeout=2)
        else:
            self.stops.append(stop)
            self.notify(f"c now stops at: {stop}", timeout=2)

    def _say_why_stopped(self) -> None:
        notice = navigation.stop_notice(self.stops, self.drawn.current if self.drawn is not None else None)
        if notice is not None:
            self.notify(notice, timeout=4)

    def action_find_in_graph(self) -> None:
        graph = self.query_one(GraphView)
        graph.focus()
        graph.action_find()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self._quitting.set()
        self.workers.cancel_group(self, "engine")
        if self.engine is not None:
            self.engine.stop()
        self.exit()

    def _handle_exception(self, error: Exception) -> None:
        """A recording is read as keys ask, so a damaged page is met while the app runs: end
        with its one sentence (``failure``, printed by the CLI), not a traceback. Textual calls
        this for any exception a handler leaves, and closes the app as Textual's own report does;
        every other exception goes on to that report. Either way the app is closed without
        being unmounted: the garbage collector's thresholds go back here."""
        self.collections.stop()
        if isinstance(error, TimelineFormatError):
            self.failure = str(error)
            self._quitting.set()
            self._close_messages_no_wait()
            return
        super()._handle_exception(error)

    def on_unmount(self) -> None:
        self._quitting.set()
        self.collections.stop()
        if self.engine is not None:
            self.engine.stop()


def run_app(timeline: Timeline, engine: Any = None, *, watch: tuple[str, ...] = (),
            theme: str = "textual-dark", stops: tuple[EventStop, ...] = ()) -> str | None:
    """Run the app to the end; None, or the sentence saying why it ended early (``failure``)."""
    app = GradtuiApp(timeline, engine, watch=watch, theme=theme, stops=stops)
    try:
        app.run()
    finally:
        app.collections.stop()
    return app.failure
