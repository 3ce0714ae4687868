"""``gradtui --compare A B``: two recorded runs side by side, one cursor moving both.

The screen holds each run's source at the line it is at, one table of both runs'
parameters, gradients and optimizer state with their differences, both loss curves (and
both lrs where they differ) on one plot, and a status line with the first divergence.
The runs are aligned step by step and paired event by event within a step
(``gradtui.model.run_pairs``); the keys move the cursor over those pairs
(``gradtui.model.pair_cursor``). It reads only model values: no torch, no engine.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from gradtui.model import pair_cursor as moves
from gradtui.model.divergence import Walk, first_divergence
from gradtui.model.event_match import phrase
from gradtui.model.pair_cursor import Spot
from gradtui.model.run_pairs import RunPair
from gradtui.model.tolerance import Tolerance
from gradtui.ui.widgets.compare_panels import PairPlot, PairValues, RunSource

#: The side-by-side view's keys: (key, action, footer label, help).
COMPARE_KEYS = (
    ("n", "move('pair')", "next", "both runs one event on (an event of one run only moves that run)"),
    ("N", "move('pair_back')", "back", "one event back"),
    ("e", "move('event')", "event", "on to the next event that changes gradients or parameters in either run"),
    ("E", "move('event_back')", "event back", "back to the previous such event"),
    ("right", "move('step')", "step", "on to the next aligned step (optimizer step, else backward call)"),
    ("left", "move('step_back')", "step back", "back to the previous aligned step"),
    ("home", "move('start')", "start", "back to the start"),
    ("end", "move('end')", "end", "on to the end"),
    ("D", "move('divergence')", "divergence", "jump to the first event where the runs differ"),
    ("q", "quit", "quit", "quit"),
)

CSS = """
#sources { height: 1fr; }
RunSource { width: 1fr; height: 100%; border: round $primary; padding: 0 1; }
#lower { height: 1fr; }
PairValues { width: 3fr; height: 100%; border: round $secondary; padding: 0 1; }
PairPlot { width: 2fr; height: 100%; border: round $secondary; }
#compare-status { height: 2; padding: 0 1; background: $panel; }
"""


class CompareApp(App[None]):
    """Two runs, one cursor; ``D`` goes to where they first differ."""

    TITLE = "gradtui --compare"
    CSS = CSS
    BINDINGS = [Binding(key, action, label, show=key not in ("N", "E", "home", "end")) for key, action, label, _ in
                COMPARE_KEYS]

    def __init__(self, runs: RunPair, titles: tuple[str, str], tol: Tolerance, *, theme: str = "textual-dark",
                 walk: Walk | None = None) -> None:
        super().__init__()
        self.runs = runs
        self.titles = titles
        self.tol = tol
        self._theme_name = theme
        self.walk = walk if walk is not None else first_divergence(runs.runs[0], runs.runs[1], tol, runs.places)
        self.spot = Spot(0, 0)
        #: The sentence of the latest key that could not move (at the end, no divergence).
        self.notice = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            with Horizontal(id="sources"):
                yield RunSource(id="source-a")
                yield RunSource(id="source-b")
            with Horizontal(id="lower"):
                yield PairValues(id="values")
                yield PairPlot(self.runs, id="plot")
            yield Static(id="compare-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.theme = self._theme_name
        self.query_one("#values", PairValues).border_title = "Parameters · gradients · optimizer (A | B | |Δ|)"
        self.draw()

    def on_resize(self) -> None:
        self.draw()

    def action_move(self, how: str) -> None:
        runs, spot = self.runs, self.spot
        self.notice = ""
        match how:
            case "pair":
                new = moves.next_pair(runs, spot)
            case "pair_back":
                new = moves.previous_pair(runs, spot)
            case "event":
                new = moves.next_milestone(runs, spot)
            case "event_back":
                new = moves.previous_milestone(runs, spot)
            case "step":
                on = moves.step_end(runs, spot.segment)
                new = moves.step_end(runs, spot.segment + 1) if on == spot else on
            case "step_back":
                new = moves.step_end(runs, spot.segment - 1) if spot.segment > 0 else Spot(0, 0)
            case "start":
                new = Spot(0, 0)
            case "end":
                new = moves.step_end(runs, runs.segments - 1)
            case "divergence":
                d = self.walk.divergence
                if d is None:
                    self.notice = "the runs agree: no divergence" + (f" ({self.walk.stopped})" if self.walk.stopped
                                                                     else "")
                    new = spot
                else:
                    segment, index = runs.locate(d.a, d.b)
                    new = Spot(segment, index)
            case _:
                new = spot
        if new == spot and not self.notice:
            self.notice = "at the end of both runs" if how in ("pair", "event", "step", "end") else "at the start"
        self.spot = new
        self.draw()

    def draw(self) -> None:
        pair = moves.pair_at(self.runs, self.spot)
        for side, seq, widget in ((0, pair.a, "#source-a"), (1, pair.b, "#source-b")):
            moved = pair.moved in ("both", "ab"[side])
            self.query_one(widget, RunSource).show(self.runs, side, seq, self.titles[side], moved)
        self.query_one("#values", PairValues).show(self.runs, pair, self.tol)
        done = moves.steps_done(self.runs, self.spot)
        self.query_one("#plot", PairPlot).mark(done)
        self.query_one("#compare-status", Static).update(self.status_text())

    def status_text(self) -> Text:
        pair = moves.pair_at(self.runs, self.spot)
        ea, eb = self.runs.events[0][pair.a], self.runs.events[1][pair.b]
        unit = self.runs.unit_name
        total = max(len(a) for a in self.runs.anchors)
        done = moves.steps_done(self.runs, self.spot)
        here = {"both": f"A and B: {phrase(ea)}", "a": f"only A: {phrase(ea)}", "b": f"only B: {phrase(eb)}"}
        line = Text(f"{unit} {done}/{total} · {here[pair.moved]}")
        if self.notice:
            line.append(f" · {self.notice}", style="yellow")
        d = self.walk.divergence
        line.append("\n")
        if d is None:
            line.append("the runs agree" + (f" ({self.walk.stopped})" if self.walk.stopped else ""), style="green")
        else:
            at = (d.a is None or d.a == pair.a) and (d.b is None or d.b == pair.b)
            line.append(("▶ here: " if at else "first divergence (D): ") + d.text, style="bold red")
        return line


def run_compare(runs: RunPair, titles: tuple[str, str], tol: Tolerance, theme: str) -> None:
    CompareApp(runs, titles, tol, theme=theme).run()
