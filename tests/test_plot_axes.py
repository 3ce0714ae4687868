"""The plot's choices, without Textual: scale, ticks, what is left out, thinning.

Expected values are worked out by hand (powers of ten, counts of NaN), and the ticks are
checked against what plotext itself draws: every label chosen must appear on the screen
plotext builds, on the row of its value, since a label plotext drops or overwrites is
exactly the bug this guards against (``0.831.0 14.8`` at 80×24, ``500.8`` on x).
"""

from __future__ import annotations

import math
import re

import pytest
from textual_plotext.plot import Plot

from gradtui.ui.plot_series import auto_scale, downsample, prepare
from gradtui.ui.plot_ticks import log_label, x_ticks, y_axis, y_limits, y_ticks
from gradtui.ui.widgets.plot import AXES_FROM_ROWS, draw

#: The polynomial_autograd tutorial's loss: about 2e5 at the start, about 12 after 2000 passes.
TUTORIAL = [(float(n), 2e5 * math.exp(-(n - 1) / 150) + 12) for n in range(1, 2001)]
GENTLE = [(float(n), 1.5 - 0.04 * n) for n in range(1, 21)]
DECADES = [(float(k + 1), 1e4 * 0.64**k) for k in range(20)]


def _screen(points: list[tuple[float, float]], width: int, height: int, requested: str = "auto") -> list[str]:
    plt = Plot()
    draw(plt, prepare(points, requested), width, height)  # type: ignore[arg-type]
    plt.theme("clear")
    plt.plotsize(width, height)
    plt._set_size(width, height)
    return re.sub(r"\x1b\[[0-9;]*m", "", plt.build()).split("\n")


# ---------------------------------------------------------------- the scale


def test_auto_is_log_from_two_orders_of_magnitude_and_only_for_positive_values() -> None:
    assert auto_scale([y for _, y in TUTORIAL]) == "log"
    assert auto_scale([100.0, 1.0]) == "log"
    assert auto_scale([99.0, 1.0]) == "linear"
    assert auto_scale([1e5, 10.0, 0.0]) == "linear"  # a zero has no logarithm
    assert auto_scale([1e5, 10.0, -1.0]) == "linear"
    assert auto_scale([1e5, float("nan"), 10.0]) == "log"  # NaN is left out, not a reason
    assert auto_scale([]) == "linear"


def test_nan_and_inf_are_counted_and_never_drawn() -> None:
    series = prepare([(1.0, 2.0), (2.0, float("nan")), (3.0, 1.0), (4.0, float("inf")), (5.0, -math.inf)])
    assert series.xs == (1.0, 3.0) and series.ys == (2.0, 1.0)
    assert (series.nans, series.infs) == (1, 2)
    assert series.latest_left_out == -math.inf
    assert series.notes() == ("1 NaN and 2 inf not drawn", "latest is -inf")


def test_a_log_scale_leaves_out_values_at_or_below_zero_and_says_how_many() -> None:
    series = prepare([(1.0, 100.0), (2.0, 0.0), (3.0, -3.0), (4.0, 1.0)], "log")
    assert series.scale == "log"
    assert series.ys == (100.0, 1.0) and series.non_positive == 2
    assert series.notes() == ("2 ≤ 0 not on log scale",)
    assert series.latest_left_out is None  # the last point is drawn (and marked)


def test_a_log_scale_with_no_positive_value_falls_back_to_linear_and_says_so() -> None:
    series = prepare([(1.0, -1.0), (2.0, 0.0)], "log")
    assert series.scale == "linear" and series.ys == (-1.0, 0.0)
    assert series.notes() == ("no value > 0: linear",)


def test_linear_asked_for_stays_linear() -> None:
    assert prepare(TUTORIAL, "linear").scale == "linear"
    assert prepare(GENTLE, "log").scale == "log"


# ---------------------------------------------------------------- ticks


def test_log_labels_show_the_values_not_their_logarithms() -> None:
    assert [log_label(10.0**k) for k in (5, 3, 2, 1, 0, -1, -2, -4)] == \
        ["1e5", "1e3", "100", "10", "1", "0.1", "0.01", "1e-4"]
    assert log_label(2000.0) == "2e3" and log_label(0.5) == "0.5"


def test_log_ticks_of_the_tutorial_are_powers_of_ten_inside_its_range() -> None:
    lo, hi = y_limits(12.0, 2e5 + 12, "log")
    ticks = y_ticks(lo, hi, 8, "log")
    assert len(ticks.positions) >= 2
    assert all(p == int(p) and 12 <= 10**p <= 2e5 + 12 for p in ticks.positions)
    assert set(ticks.labels) <= {"100", "1e3", "1e4", "1e5"}


def test_linear_ticks_are_round_and_labelled_with_the_decimals_they_need() -> None:
    assert y_ticks(0.74, 1.5, 10, "linear").labels == ("0.8", "1.0", "1.2", "1.4")
    assert y_ticks(-3.0, 5.0, 10, "linear").labels == ("-2", "0", "2", "4")
    assert y_ticks(1e7, 3e7, 6, "linear").labels == ("1e7", "2e7", "3e7")


def test_one_value_is_labelled_with_itself_not_a_round_neighbour() -> None:
    assert y_axis(27.0, 27.0, 6, "linear")[1].labels == ("27",)
    assert y_axis(0.125, 0.125, 6, "log")[1].labels == ("0.125",)
    screen = _screen([(1.0, 27.0)], 58, 8)
    assert [line for line in screen if "●" in line][0].startswith("27┤")


def test_x_ticks_are_whole_numbers_even_where_plotext_chose_500_8() -> None:
    ticks = x_ticks(1.0, 2000.0, 35, margin=3)
    assert ticks.labels == ("500", "1000", "1500", "2000")
    assert x_ticks(1.0, 6.0, 34).labels == ("1", "2", "3", "4", "5", "6")
    assert x_ticks(4.0, 4.0, 30).labels == ("4",)


@pytest.mark.parametrize("points", [TUTORIAL, GENTLE, DECADES], ids=["tutorial", "gentle", "decades"])
@pytest.mark.parametrize("requested", ["auto", "linear", "log"])
@pytest.mark.parametrize("size", [(38, 2), (38, 3), (38, 4), (38, 6), (58, 8), (58, 10), (100, 16)])
def test_every_label_chosen_is_on_plotexts_screen_on_its_own_row(points, requested, size) -> None:  # type: ignore[no-untyped-def]
    width, height = size
    series = prepare(points, requested)
    screen = _screen(points, width, height, requested)
    axes = height >= AXES_FROM_ROWS
    rows = height - 1 - int(axes)
    (lo, hi), yt = y_axis(min(series.ys), max(series.ys), rows, series.scale)
    if rows >= 2:
        assert len(yt.labels) >= 2 or series.scale == "log"
    margin = max((len(label) for label in yt.labels), default=0)
    for position, label in zip(yt.positions, yt.labels, strict=True):
        # plotext's row for the value: top line of the screen is the highest row.
        row = math.floor(0.5 + round((rows - 1) * (position - lo) / (hi - lo), 8))
        assert screen[rows - 1 - row][:margin].strip() == label, (label, screen)
    xt = x_ticks(series.xs[0], series.xs[-1], width - margin - int(axes), margin + int(axes))
    tick_line = screen[rows + int(axes)]
    assert tick_line.split() == list(xt.labels)
    assert all(label.isdigit() for label in xt.labels)
    assert len(xt.labels) >= 2


# ---------------------------------------------------------------- thinning


def test_thinning_keeps_each_columns_lowest_and_highest_point_so_a_spike_stays() -> None:
    xs = [float(i) for i in range(20_000)]
    ys = [1.0 + (i % 7) * 0.01 for i in range(20_000)]
    ys[12_345] = 50.0  # one exploding step
    ys[777] = -4.0
    kept_x, kept_y = downsample(xs, ys, 100)
    assert len(kept_x) <= 2 * 100 + 2
    assert (kept_x[0], kept_x[-1]) == (0.0, 19_999.0)
    assert 50.0 in kept_y and -4.0 in kept_y
    assert kept_x == sorted(kept_x)
    # Each of the 100 columns (200 x values each) keeps its own extremes.
    for column in range(100):
        inside = [i for i, x in enumerate(kept_x) if column * 200 <= x < (column + 1) * 200]
        original = ys[column * 200:(column + 1) * 200]
        assert max(kept_y[i] for i in inside) == max(original)
        assert min(kept_y[i] for i in inside) == min(original)


def test_few_points_are_drawn_as_they_are() -> None:
    xs, ys = [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]
    assert downsample(xs, ys, 10) == (xs, ys)


def test_thousands_of_backward_passes_reach_plotext_as_a_few_hundred_points() -> None:
    plt = Plot()
    many = [(float(n), 1.0 / n) for n in range(1, 50_001)]
    draw(plt, prepare(many), 58, 10)
    drawn = sum(len(x) for x in plt._active.monitor.x)  # what plotext holds: the line and the mark
    # Braille draws two x positions per column, each kept as its lowest and highest point.
    assert drawn <= 4 * 58 + 3
