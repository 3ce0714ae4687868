"""The exploded / vanished questions on sequences of norms written out by hand.

Each sequence is chosen so that the answer follows from the rule in the module's
docstring by plain arithmetic (a 1000-fold jump over a median of 1, ten rises of 2x);
the scripts that run torch are in test_notes.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradtui.engine.grad_norms import (
    GROWTH_PASSES,
    MAX_TRACKED,
    MIN_HISTORY,
    VANISH_PASSES,
    WINDOW,
    GradNormLimits,
    GradNormWatch,
    GradSize,
)


def run(passes: Sequence[dict[str, float]], limits: GradNormLimits | None = None,
        fresh: bool = True) -> list[tuple[int, str]]:
    """(pass index, note) for each note, feeding one pass of ``{name: norm}`` at a time (one element each)."""
    watch = GradNormWatch(limits)
    return [(i, note) for i, norms in enumerate(passes)
            for note in watch.observe([GradSize(n, v, 1, fresh) for n, v in norms.items()])]


def test_a_jump_of_three_orders_of_magnitude_over_the_median_is_noted_once() -> None:
    # Typical norm 1 (with one earlier spike of 50 that the median ignores), then 1500.
    norms = [1.0, 1.0, 1.0, 50.0, 1.0, 1.0, 1.0, 1.0, 1.5e3, 2e3, 1.8e3]
    notes = run([{"w": v} for v in norms])
    assert [i for i, _ in notes] == [8]  # the later large passes belong to the same episode
    assert notes[0][1].startswith("w.grad has norm 1500, 1500 times its typical norm so far (1, the median of "
                                  "its last 8): the gradient exploded")


def test_a_jump_needs_enough_history() -> None:
    assert run([{"w": 1.0}] * (MIN_HISTORY - 1) + [{"w": 1e6}]) == []


def test_a_new_explosion_after_recovery_is_news_again() -> None:
    norms = [1.0] * 10 + [2e3] + [1.0] * 20 + [5e3]
    assert [i for i, _ in run([{"w": v} for v in norms])] == [10, 31]


def test_large_norms_that_stay_large_are_normal() -> None:
    # The polynomial tutorial's scale: norms in the hundreds of thousands, slowly falling.
    assert run([{"d": 274832.0 * 0.999 ** i} for i in range(300)]) == []


def test_steady_growth_is_an_explosion_even_without_a_jump() -> None:
    # 2x per pass: never 1000x the median of the window (that is 2^(k/2) behind), but
    # after ten rises the norm is 1024 times where the rise began.
    notes = run([{"w": 2.0 ** i} for i in range(30)])
    assert [i for i, _ in notes] == [GROWTH_PASSES]
    assert notes[0][1].startswith(f"w.grad has grown at each of the last {GROWTH_PASSES} backward passes, "
                                  "from 1 to 1024: the gradient is exploding")


def test_slow_growth_by_a_small_factor_is_not_an_explosion() -> None:
    # 1.07x per pass for 48 passes (30x): what the polynomial tutorial's a.grad does early on.
    assert run([{"a": 1.07 ** i} for i in range(48)]) == []


def test_growth_of_an_accumulating_gradient_does_not_count() -> None:
    # backward() without zero_grad() adds the same gradient each pass: 1, 2, 3, ... 1500.
    passes = [{"w": float(i + 1)} for i in range(1500)]
    assert run(passes, fresh=False) == []
    assert [i for i, _ in run(passes, fresh=True)] == [999]  # fresh gradients growing so would be noted


def test_a_gradient_at_the_noise_floor_does_not_explode() -> None:
    # b.grad is rounding noise (1e-12), then 1e-6: a million times more, still far below w's 1.
    passes = [{"w": 1.0, "b": 1e-12}] * 10 + [{"w": 1.0, "b": 1e-6}]
    assert [n for _, n in run(passes) if "exploded" in n] == []


def test_a_tiny_gradient_against_the_others_for_passes_in_a_row_vanished() -> None:
    passes = [{"early": 1e-9, "late": 1.0}] * 6
    notes = run(passes)
    assert [i for i, _ in notes] == [VANISH_PASSES - 1]
    assert notes[0][1].startswith("early.grad is 1e-09 times the size of late.grad per element (1e-09 against 1), "
                                  f"{VANISH_PASSES} backward passes in a row: the gradient vanished")


def test_a_gradient_crossing_zero_for_one_pass_has_not_vanished() -> None:
    passes = [{"a": 1.0, "e": 1e5}, {"a": 1e-1, "e": 1e5}, {"a": 1e-3, "e": 1e5}, {"a": 1.0, "e": 1e5}] * 5
    assert run(passes) == []


def test_a_converging_run_shrinks_every_gradient_together() -> None:
    assert run([{"w": 0.5 ** i, "b": 0.3 * 0.5 ** i} for i in range(60)]) == []


def test_a_single_parameter_cannot_vanish_against_itself() -> None:
    assert run([{"x": 1e-12}] * 10) == []


def test_size_per_element_compares_a_bias_with_a_large_matrix() -> None:
    # Norms 1e-7 and 100 are nine orders apart, but the matrix has 1e8 elements: per
    # element 1e-7 against 1e-2, five orders, so the bias has not vanished.
    watch = GradNormWatch()
    for _ in range(5):
        assert watch.observe([GradSize("weight", 100.0, 10**8), GradSize("bias", 1e-7, 1)]) == []


def test_explicit_limits_only_when_set_and_once_per_episode() -> None:
    passes = [{"w": 2e6, "s": 4e-9}, {"w": 3e6, "s": 4e-9}, {"w": 1.0, "s": 1.0}, {"w": 2e6, "s": 1.0}]
    assert [n for _, n in run(passes) if "limit" in n] == []
    notes = run(passes, GradNormLimits(above=1e3, below=1e-6))
    assert [(i, n.split(":")[0]) for i, n in notes if "limit" in n] == [
        (0, "w.grad has norm 2e+06, above the limit 1000"),
        (0, "s.grad has norm 4e-09, below the limit 1e-06"),
        (3, "w.grad has norm 2e+06, above the limit 1000"),
    ]


def test_the_window_and_the_number_of_histories_are_bounded() -> None:
    watch = GradNormWatch()
    for i in range(1000):
        watch.observe([GradSize("w", 1.0 + i % 3, 1)])
    assert len(watch._histories["w"].norms) == WINDOW
    for i in range(MAX_TRACKED + 10):  # a new leaf, under a new name, at every pass
        watch.observe([GradSize(f"tensor#{i}", 1.0, 1), GradSize("w", 1.0, 1)])
    assert len(watch._histories) == MAX_TRACKED and "w" in watch._histories


def test_several_parameters_in_one_pass_make_one_sentence() -> None:
    passes = [{f"layer{k}": 1e-9 for k in range(7)} | {"head": 1.0}] * VANISH_PASSES
    (note,) = [n for _, n in run(passes)]
    assert note.startswith("layer0.grad is 1e-09 times the size of head.grad per element")
    assert "(likewise layer1.grad, layer2.grad, layer3.grad, layer4.grad and 2 more)" in note
