"""The plot: the loss at each backward, or the watched variable (``--watch``), up to now;
``r`` switches to the learning rate each ``scheduler.step()`` left, and back.

Drawn with plotext through textual-plotext. The point of the event on screen is marked,
so stepping back moves the mark along the curve. What plotext would choose by itself
does not survive small panels and wide ranges, so the choices are made here: the scale
(log once the values span two orders of magnitude; ``L`` switches), the ticks for the
panel's real size (``plot_ticks``), and at most two points per braille column
(``plot_series.downsample``), from a series the events' index thinned already
(``gradtui.model.thinning``): a million backward passes draw as fast as a hundred.
The panel's border says what is plotted and on which scale, and what was left out.

Running plotext is the dearest part of a key press, so a figure is drawn once per series
and size: the status line's height changes with what it says, and with it this panel's,
so the last few sizes' figures are kept and a key that only resizes the panel (or moves
the cursor within the same points) draws nothing again. The last few series are kept
too, with their figures: stepping back over a backward and forward again (``E`` then
``e``), or jumping between the start and the end, draws each figure once.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from gradtui.model import history, training
from gradtui.model.events import BackwardDone, DetailDropped, Event, LrScheduled, ValueWatched
from gradtui.model.thinning import ThinnedPoints
from gradtui.ui import plot_ticks
from gradtui.ui.plot_series import Requested, Series, downsample, prepare, prepare_thinned
from gradtui.ui.view import View

#: Below this many rows the axis lines give way to one more row of curve.
AXES_FROM_ROWS = 6
#: Points asked of the events at most: the extremes of about a thousand stretches of the
#: run, more than a panel has braille columns; ``downsample`` then thins for the panel.
PLOT_POINTS = 3000
#: Figures kept per series: one per panel size seen since the series changed.
FIGURES_KEPT = 4
#: Series kept with their figures, the most recently shown last.
SERIES_KEPT = 4

#: What a kept series is known by: what is plotted, up to which seq, how many events the
#: run had then (a live run's later events never change it, but a kept one is not trusted
#: past them), and the scale asked for.
_KeptKey = tuple[str, int | None, int, str]


class LossPlot(PlotextPlot):
    """Loss per backward call; ``--watch NAME`` plots that variable instead."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._thinned = ThinnedPoints((), 0, exact=True)
        #: ``auto`` until the user presses ``L``; then the scale they asked for.
        self.requested: Requested = "auto"
        self.series: Series = prepare([])
        #: ``r``: the learning rate of the run's schedule instead of the loss.
        self.lr = False
        self._view: View | None = None
        #: The figures of ``series`` drawn so far, by panel size and plotext theme.
        self._figures: dict[tuple[int, int, str], Text] = {}
        #: What ``_thinned`` holds: what is plotted, up to which seq, and the run's event count then.
        self._points_key: tuple[str, int | None, int] = ("loss per backward", None, -1)
        #: The last series shown and their figures (``SERIES_KEPT``).
        self._kept: dict[_KeptKey, tuple[ThinnedPoints, Series, dict[tuple[int, int, str], Text]]] = {}

    def show(self, view: View) -> None:
        # The points up to the cursor are those of the events up to the latest backward
        # (or watch) before it: unchanged on most keys, and then not asked for again.
        # A stretch whose detail --keep-steps dropped still has its losses, in the step summaries.
        self._view = view
        kind: type[Event] = LrScheduled if self.lr else ValueWatched if view.watch else BackwardDone
        latest = history.latest(view.events, view.cursor, (kind, DetailDropped))
        upto = None if latest is None else latest.seq
        if isinstance(latest, DetailDropped):
            upto = min(view.cursor, latest.last)
        what = ("lr per scheduler.step()" if self.lr else f"{view.watch[0]} per update" if view.watch
                else "loss per backward")
        if self._points_key[:2] == (what, upto) and self._points_key[2] >= 0:
            return  # the same points (a live run's later events leave them as they are)
        self._points_key = (what, upto, len(view.events))
        kept = self._kept.get((*self._points_key, self.requested))
        if kept is not None:
            self._thinned = kept[0]
        elif upto is None:
            self._thinned = ThinnedPoints((), 0, exact=True)
        elif self.lr:
            self._thinned = training.lr_series(view.events, upto, PLOT_POINTS)
        elif view.watch:
            self._thinned = history.watch_series(view.events, upto, view.watch[0], PLOT_POINTS)
        else:
            self._thinned = history.loss_series(view.events, upto, PLOT_POINTS)
        self._prepare()

    def toggle_lr(self) -> None:
        """``r``: the learning rate instead of the loss, or the loss again."""
        self.lr = not self.lr
        if self._view is not None:
            self.show(self._view)

    def toggle_scale(self) -> None:
        """``L``: log if the plot is linear now, linear if it is log (``auto`` ends here)."""
        self.requested = "linear" if self.series.scale == "log" else "log"
        self._prepare()

    def _prepare(self) -> None:
        kept_key = (*self._points_key, self.requested)
        kept = self._kept.pop(kept_key, None)
        if kept is None:
            kept = (self._thinned, prepare_thinned(self._thinned, self.requested), {})
            if len(self._kept) >= SERIES_KEPT:
                del self._kept[next(iter(self._kept))]
        self._kept[kept_key] = kept  # the most recent last
        _, self.series, self._figures = kept
        scale = f" ({self.series.scale})" if self.series.xs else ""
        self.border_title = f"Plot · {self._points_key[0]}{scale}"
        notes = self.series.notes() if self._thinned.count else ("nothing yet",)
        self.border_subtitle = " · ".join(notes)
        self.refresh()

    def render(self) -> RenderResult:
        width, height = self.size
        key = (width, height, self._get_plotext_theme_name(self.app.theme))
        figure = self._figures.get(key)
        if figure is None:
            draw(self.plt, self.series, width, height)
            rendered = super().render()
            assert isinstance(rendered, Text)  # textual-plotext's own: its figure as ANSI text
            if len(self._figures) >= FIGURES_KEPT:
                del self._figures[next(iter(self._figures))]
            figure = self._figures[key] = rendered
        return figure


def draw(plt: Plot, series: Series, width: int, height: int) -> None:
    """Put ``series`` on the plotext figure ``plt`` for a plot of ``width`` × ``height`` cells."""
    plt.clear_data()
    plt.clear_figure()
    plt.frame(False)
    if not series.xs or height < 2 or width < 8:
        return
    axes = height >= AXES_FROM_ROWS
    if axes:
        plt.xaxes(True, False)
        plt.yaxes(True, False)
    rows = height - 1 - int(axes)
    log = series.scale == "log"
    (ylo, yhi), yt = plot_ticks.y_axis(min(series.ys), max(series.ys), rows, series.scale)
    margin = max((len(label) for label in yt.labels), default=0) + int(axes)
    columns = max(1, width - margin)
    xlo, xhi = series.xs[0], series.xs[-1]
    xt = plot_ticks.x_ticks(xlo, xhi, columns, margin)
    if xlo == xhi:  # one point: room either side of it, ticked on its own number
        xlo, xhi = xlo - 1, xhi + 1
    xs, ys = downsample(series.xs, series.ys, 2 * columns)
    if log:
        ys = [math.log10(y) for y in ys]
    plt.plot(xs, ys, marker="braille")
    if series.latest_left_out is None:
        plt.scatter([xs[-1]], [ys[-1]], marker="●", color="red")
    plt.xlim(xlo, xhi)
    plt.ylim(ylo, yhi)
    plt.xticks(list(xt.positions), list(xt.labels))
    plt.yticks(list(yt.positions), list(yt.labels))
