"""The plot panel in the app: its scale, the ``L`` key, and what it says it left out.

The losses compared are worked out by hand: ``loss_decades.py`` runs SGD on ``w**2``
from ``w = 100`` with ``lr = 0.1``, so ``w`` is multiplied by 0.8 each step and the
k-th loss is ``1e4 * 0.64**k``: 10000 down to about 2.08, almost four decades.
"""

from __future__ import annotations

import math

import pytest
from textual.app import App, ComposeResult

from gradtui.model.events import BackwardDone, LineReached
from gradtui.model.history import loss_points
from gradtui.ui.view import View
from gradtui.ui.widgets.plot import LossPlot
from tests.apptools import live_app, press, started
from tests.conftest import SCRIPTS

SIZE = (120, 40)


def _plot_text(plot: LossPlot) -> str:
    return str(plot.render())


def _y_labels(text: str) -> list[str]:
    """The labels left of the y axis (``┤`` marks a tick)."""
    return [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]


async def test_a_loss_over_four_decades_is_drawn_on_a_log_scale_and_L_switches_it() -> None:
    app = live_app(SCRIPTS / "loss_decades.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "c")
        losses = [y for _, y in loss_points(app.timeline.events, app.cursor)]
        assert losses == pytest.approx([1e4 * 0.64**k for k in range(20)], rel=1e-5)
        plot = app.query_one(LossPlot)
        assert plot.series.scale == "log"
        assert plot.border_title == "Plot · loss per backward (log)"
        text = _plot_text(plot)
        labels = _y_labels(text)
        assert len(labels) >= 2 and "1e4" in labels  # real values, not log10 (4, 2 …)
        assert set(labels) <= {"10", "100", "1e3", "1e4"}
        await pilot.press("L")
        await pilot.pause()
        assert plot.series.scale == "linear"
        assert plot.border_title == "Plot · loss per backward (linear)"
        text = _plot_text(plot)
        assert "10000" in _y_labels(text)
        await pilot.press("L")
        await pilot.pause()
        assert plot.series.scale == "log"
        # Stepping back keeps the scale the user chose, and the plot ends at the event on screen.
        await pilot.press("L")
        await press(pilot, "C", "e", "e")
        assert plot.series.scale == "linear" and plot.series.xs == (1.0,)
        await pilot.press("q")


async def test_a_nan_loss_is_not_drawn_and_the_border_says_so() -> None:
    app = live_app(SCRIPTS / "notes_nan.py")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await press(pilot, "c")
        backwards = [e for e in app.timeline.events if isinstance(e, BackwardDone)]
        assert len(backwards) == 1 and math.isnan(backwards[0].loss or 0.0)  # log(-2) is NaN
        plot = app.query_one(LossPlot)
        assert plot.series.xs == ()
        assert plot.border_subtitle == "1 NaN not drawn · latest is nan"
        await pilot.press("q")


class PlotHarness(App[None]):
    def __init__(self, view: View) -> None:
        super().__init__()
        self.view_ = view

    def compose(self) -> ComposeResult:
        yield LossPlot(id="plot")

    def on_mount(self) -> None:
        self.query_one(LossPlot).show(self.view_)


def _backwards(losses: list[float]) -> list[LineReached | BackwardDone]:
    events: list[LineReached | BackwardDone] = [LineReached(seq=0, file="s.py", line=1, function="<module>")]
    for i, loss in enumerate(losses):
        events.append(BackwardDone(seq=i + 1, file="s.py", line=2, root="loss", loss=loss, grads={},
                                   loss_scale=None, graph=None))
    return events


async def test_an_empty_plot_says_nothing_yet() -> None:
    app = PlotHarness(View(events=_backwards([]), cursor=0))
    async with app.run_test(size=(40, 8)) as pilot:
        await pilot.pause()
        plot = app.query_one(LossPlot)
        assert (plot.border_title, plot.border_subtitle) == ("Plot · loss per backward", "nothing yet")


async def test_in_a_small_panel_the_curve_keeps_its_rows_and_the_labels_their_own() -> None:
    losses = [1.5 - 0.04 * n for n in range(20)]
    app = PlotHarness(View(events=_backwards(losses), cursor=20))
    async with app.run_test(size=(38, 4)) as pilot:  # the plot's size inside an 80×24 screen
        await pilot.pause()
        lines = _plot_text(app.query_one(LossPlot)).splitlines()
        assert len(lines) == 4
        assert sum(any("\u2800" <= c <= "\u28ff" for c in line) for line in lines) == 3  # braille rows
        assert lines[-1].split() == ["5", "10", "15", "20"]
        labels = [line[:3].strip() for line in lines[:-1] if line[:3].strip()]
        assert labels == ["1.5", "1.0"]
