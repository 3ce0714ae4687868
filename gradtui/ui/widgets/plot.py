"""The plot: the loss at each backward, or the watched variable (``--watch``), up to now.

Drawn with plotext through textual-plotext. The point of the event on screen is marked,
so stepping back moves the mark along the curve.
"""

from __future__ import annotations

from textual_plotext import PlotextPlot

from gradtui.model import history
from gradtui.ui.view import View


class LossPlot(PlotextPlot):
    """Loss per backward call; ``--watch NAME`` plots that variable instead."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._key: tuple[object, ...] | None = None

    def show(self, view: View) -> None:
        if view.watch:
            name = view.watch[0]
            points = history.watch_points(view.events, view.cursor, name)
            xs = list(range(len(points)))
            title, xlabel = f"{name} over the run", "update"
        else:
            points = history.loss_points(view.events, view.cursor)
            xs = [n for n, _ in points]
            title, xlabel = "loss at each backward()", "backward #"
        ys = [y for _, y in points]
        key = (title, tuple(xs), tuple(ys))
        if key == self._key:
            return
        self._key = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        if not points:
            plt.title(f"{title}: nothing yet")
        else:
            plt.plot(xs, ys, marker="braille")
            if len(xs) <= 12:
                plt.xticks([float(x) for x in xs], [str(x) for x in xs])
            plt.scatter([xs[-1]], [ys[-1]], marker="●", color="red")
        self.refresh()
