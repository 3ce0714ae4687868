"""Full garbage collections wait for a quiet moment of the app, and CPython's own
thresholds come back while the engine runs and after the app.

Each test counts CPython's own full collections (``gc.get_stats``), not the class's.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gradtui.ui.app import GradtuiApp
from gradtui.ui.idle_collections import DEFERRED, IdleCollections
from tests.apptools import live_app, press, started, wait_until
from tests.conftest import SCENARIOS


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def full_collections() -> int:
    return gc.get_stats()[2]["collections"]


def young_collections_until(pending: int) -> None:
    """Make garbage in cycles until ``pending`` middle-generation collections wait for a full one."""
    for _ in range(10_000):
        if gc.get_count()[2] >= pending:
            return
        for _ in range(2000):
            loop: list[object] = []
            loop.append(loop)
    raise AssertionError(f"no {pending} young collections: gc enabled {gc.isenabled()}, "
                         f"thresholds {gc.get_threshold()}, counts {gc.get_count()}")


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """CPython's default thresholds, the collector on, whatever earlier tests left; theirs back after."""
    before, enabled = gc.get_threshold(), gc.isenabled()
    gc.enable()
    gc.set_threshold(700, 10, 10)
    gc.collect()
    yield gc.get_threshold()
    gc.set_threshold(*before)
    if not enabled:
        gc.disable()


def test_a_full_collection_waits_for_quiet_then_runs(thresholds: tuple[int, int, int]) -> None:
    clock = Clock()
    collections = IdleCollections(quiet=0.4, most=1000, clock=clock)
    collections.start()
    assert gc.get_threshold() == (thresholds[0], thresholds[1], DEFERRED)
    full = full_collections()
    young_collections_until(3 * thresholds[2])  # CPython would have collected by now
    assert full_collections() == full
    collections.touched()
    clock.now += 0.3
    assert not collections.tick(engine_running=False)  # a key was drawn 0.3 s ago
    clock.now += 0.2
    assert collections.tick(engine_running=False)
    assert full_collections() == full + 1 and gc.get_count()[2] == 0
    collections.stop()
    assert gc.get_threshold() == thresholds


def test_keys_that_never_stop_still_get_a_full_collection_after_most(thresholds: tuple[int, int, int]) -> None:
    clock = Clock()
    collections = IdleCollections(quiet=0.4, most=25, clock=clock)
    collections.start()
    young_collections_until(24)
    collections.touched()
    assert not collections.tick(engine_running=False)
    young_collections_until(25)
    full = full_collections()
    assert collections.tick(engine_running=False)
    assert full_collections() == full + 1
    collections.stop()


def test_quiet_with_nothing_pending_collects_nothing(thresholds: tuple[int, int, int]) -> None:
    clock = Clock()
    collections = IdleCollections(clock=clock)
    collections.start()
    gc.collect()
    clock.now += 10
    full = full_collections()
    assert not collections.tick(engine_running=False)
    assert full_collections() == full
    collections.stop()


def test_while_the_engine_runs_cpython_decides(thresholds: tuple[int, int, int]) -> None:
    collections = IdleCollections(clock=Clock())
    collections.start()
    assert not collections.tick(engine_running=True)
    assert gc.get_threshold() == thresholds
    collections.tick(engine_running=False)
    assert gc.get_threshold()[2] == DEFERRED
    collections.stop()
    collections.stop()  # twice is harmless
    assert gc.get_threshold() == thresholds


async def test_the_app_defers_while_it_waits_and_gives_the_thresholds_back(
        thresholds: tuple[int, int, int]) -> None:
    app: GradtuiApp = live_app(SCENARIOS / "accumulation.py")
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        app.collections.tick(engine_running=app.running)
        assert gc.get_threshold()[2] == DEFERRED  # paused at the first line: the user's turn
        await press(pilot, "c")  # to the end: the engine ran, and the script ended
        app.collections.quiet = 0.05
        young_collections_until(thresholds[2])
        await wait_until(pilot, lambda: app.collections.collections >= 1, "a collection in a quiet moment")
        assert gc.get_count()[2] < thresholds[2]
        await pilot.press("q")
    assert gc.get_threshold() == thresholds
