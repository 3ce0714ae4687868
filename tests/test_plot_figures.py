"""The plot draws a figure once per series and size, and a long run's series grows without being read again.

Both are shortcuts for speed, so each is checked against the long way round: the figure
against one drawn afresh by ``draw`` for the same series and size, the series of a
growing run against a summary that reads the whole prefix from scratch.
"""

from __future__ import annotations

import random

import pytest
from textual.app import App, ComposeResult

from gradtui.model.thinning import HEAD, SeriesSummary
from gradtui.ui.view import View
from gradtui.ui.widgets import plot as plot_module
from gradtui.ui.widgets.plot import LossPlot
from tests.test_plot import _backwards

Row = tuple[int, float, float]


def _source(rows: list[Row]):  # type: ignore[no-untyped-def]
    def source(after: int, upto: int, limit: int) -> list[Row]:
        found = [r for r in rows if after < r[0] <= upto]
        return found if limit < 0 else found[:limit]
    return source


@pytest.mark.parametrize("ordinal", [False, True])
def test_a_growing_series_thins_as_one_read_from_scratch(ordinal: bool) -> None:
    rng = random.Random(16)
    rows: list[Row] = []
    summary = SeriesSummary(_source(rows), ordinal=ordinal)  # reads rows as they are appended
    seq = 0
    for _ in range(60):
        for _ in range(rng.choice([0, 1, 7, 64, 300])):
            seq += rng.randint(1, 4)
            rows.append((seq, float(len(rows) + 1), rng.choice([float("nan"), -1.0]) if rng.random() < 0.03
                         else rng.uniform(0.01, 10)))
        for upto in (seq, rng.randint(-1, seq + 3)):  # the cursor at the end, then anywhere before it
            most = rng.choice([50, 300, 3000, HEAD + 10])
            fresh = SeriesSummary(_source(list(rows)), ordinal=ordinal).thinned(upto, most)
            got = summary.thinned(upto, most)
            assert (got.count, got.exact, got.nans, got.infs, got.non_positive) == (
                fresh.count, fresh.exact, fresh.nans, fresh.infs, fresh.non_positive)
            assert [(x, y) if y == y else (x, "nan") for x, y in got.points] == [
                (x, y) if y == y else (x, "nan") for x, y in fresh.points]
    assert len(rows) > HEAD  # the series outgrew the points kept whole


class _Harness(App[None]):
    def __init__(self, view: View) -> None:
        super().__init__()
        self.view_ = view

    def compose(self) -> ComposeResult:
        yield LossPlot(id="plot")

    def on_mount(self) -> None:
        self.query_one(LossPlot).show(self.view_)


def _count_draws(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """Each figure plotext is asked to draw from now on, as (points, width, height)."""
    drawn: list[tuple[int, int, int]] = []
    real_draw = plot_module.draw

    def counted(plt, series, width, height):  # type: ignore[no-untyped-def]
        drawn.append((len(series.xs), width, height))
        real_draw(plt, series, width, height)

    monkeypatch.setattr(plot_module, "draw", counted)
    return drawn


async def test_a_figure_is_drawn_once_per_series_and_size_and_is_the_one_draw_makes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _count_draws(monkeypatch)
    events = _backwards([2.0 * 0.9**n for n in range(40)])
    app = _Harness(View(events=events, cursor=40))
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        plot = app.query_one(LossPlot)
        first = str(plot.render())
        before = len(drawn)
        for size in ((60, 11), (60, 12), (60, 11)):  # the status line growing and shrinking
            await pilot.resize_terminal(*size)
            await pilot.pause()
            plot.render()
        sizes = [d[1:] for d in drawn[before:]]
        assert sizes.count((60, 11)) <= 1 and (60, 12) not in sizes
        assert str(plot.render()) == str(plot.render()) and plot.size.height == 11
        await pilot.resize_terminal(60, 12)
        await pilot.pause()
        assert str(plot.render()) == first
        plot.show(View(events=events, cursor=30))  # new points: a new figure
        again = str(plot.render())
        assert again != first and drawn[-1][1:] == (60, 12)
        plot._figures.clear()
        assert str(plot.render()) == again  # as drawn afresh


async def test_a_series_shown_again_keeps_its_figure_and_a_longer_run_draws_anew(
        monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _count_draws(monkeypatch)
    events = _backwards([2.0 * 0.9**n for n in range(40)])
    app = _Harness(View(events=events, cursor=40))
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        plot = app.query_one(LossPlot)
        at_end = str(plot.render())
        plot.show(View(events=events, cursor=39))  # one backward back (E) ...
        one_back = str(plot.render())
        assert one_back != at_end and drawn[-1][0] == 39
        before = len(drawn)
        plot.show(View(events=events, cursor=40))  # ... and forward again (e): nothing drawn
        assert str(plot.render()) == at_end and len(drawn) == before
        plot.show(View(events=events, cursor=39))
        assert str(plot.render()) == one_back and len(drawn) == before
        plot._figures.clear()
        assert str(plot.render()) == one_back  # the kept figure is the one drawn afresh
        plot.toggle_scale()  # another scale: another figure; and back to the scale auto chose:
        assert str(plot.render()) != one_back
        plot.toggle_scale()  # the same figure (drawn for the scale now asked for, not kept under auto)
        assert str(plot.render()) == one_back
        # The same cursor in a run with more events is not taken for the kept series.
        longer = _backwards([2.0 * 0.9**n for n in range(40)] + [0.5, 0.25])
        before = len(drawn)
        plot.show(View(events=longer, cursor=40))
        plot.render()
        assert len(drawn) == before + 1
        for n in range(plot_module.SERIES_KEPT + 1):  # at most SERIES_KEPT are kept
            plot.show(View(events=events, cursor=10 + n))
        assert len(plot._kept) == plot_module.SERIES_KEPT
