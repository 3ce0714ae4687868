"""Full garbage collections when no key is waiting, not in the middle of one.

A full collection walks every object the collector tracks and has not frozen. In the app
that is Textual's and Rich's drawings (a ``Strip`` carries seven caches of its own), the
panels' kept rows and what the keys read of the timeline: about 50,000 objects after a
hundred keys on a 20,000-step replay, which took 25-45 ms a collection on this project's
machines (cache misses, not the object count: as many objects made afresh in a loop take
about a sixth of that). CPython starts one when enough survivors piled up, which is inside
whatever allocated the last of them: a key. Measured on that replay, 5 of 103 keys paid
one, the slowest ``c`` among them (84 ms, where the others took 21-30).

So while the app waits for the user, full collections are deferred (the oldest
generation's threshold is set out of reach) and run here instead: once the app had
nothing to draw for ``quiet`` seconds and as many young collections went by as CPython
would have waited for; or, if keys never stop coming, after ``most`` of them, so that
garbage in cycles stays bounded. Young collections are untouched (a few milliseconds at
most). While the engine runs the script (a ``c`` on a live run) CPython's own thresholds
apply, as they do for ``--record``: the script allocates, not the app.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

#: The oldest generation's threshold while full collections are deferred: never reached.
DEFERRED = 1 << 30


class IdleCollections:
    """Defer full collections to quiet moments; ``touched`` on every redraw, ``tick`` often."""

    def __init__(self, *, quiet: float = 0.4, most: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.most = most
        self._clock = clock
        self._last = clock()
        self._saved: tuple[int, int, int] | None = None
        #: Full collections run here (not counting CPython's own while the engine ran).
        self.collections = 0

    def start(self) -> None:
        if self._saved is None:
            young, middle, old = gc.get_threshold()
            # An app of this process that ended without being taken down left them deferred:
            # what is given back at the end is CPython's default, not that.
            self._saved = (young, middle, 10 if old == DEFERRED else old)
            self._defer()

    def stop(self) -> None:
        """The thresholds as they were (one process may run many apps: the tests)."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def touched(self) -> None:
        """The app drew something: a key, or the engine's report."""
        self._last = self._clock()

    def tick(self, engine_running: bool) -> bool:
        """Collect now if it is time; True if it did."""
        saved = self._saved
        if saved is None:
            return False
        if engine_running:
            gc.set_threshold(*saved)
            return False
        self._defer()
        pending = gc.get_count()[2]  # young collections since the last full one
        quiet = self._clock() - self._last >= self.quiet
        if pending >= self.most or (quiet and pending >= max(saved[2], 1)):
            gc.collect()
            self.collections += 1
            return True
        return False

    def _defer(self) -> None:
        assert self._saved is not None
        young, middle, _ = self._saved
        if gc.get_threshold() != (young, middle, DEFERRED):
            gc.set_threshold(young, middle, DEFERRED)
