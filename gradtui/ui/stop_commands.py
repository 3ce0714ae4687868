"""Command-palette entries (ctrl+p) that turn breakpoints on events on and off.

Line breakpoints have their key (``b``); breakpoints on events (every backward, the first
NaN, a large gradient, any note) are fewer and rarer, so they live in the palette, named
in words, where typing "nan" or "backward" finds them.
"""

from __future__ import annotations

from functools import partial
from typing import Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

from gradtui.model.stops import STOP_KINDS, EventStop


class _StopsOwner(Protocol):
    """What these commands need of the app (not the app's module: it imports this one)."""

    stops: list[EventStop]

    def toggle_stop(self, stop: EventStop) -> None: ...


#: The entries: the stop and what it stops on, in words, one per kind of ``STOP_KINDS``.
ENTRIES: tuple[tuple[EventStop, str], ...] = tuple(
    (kind.palette_stop, kind.stop_words(kind.palette_threshold)) for kind in STOP_KINDS
)


class StopCommands(Provider):
    """``Break on …`` / ``Stop breaking on …`` for each kind of event stop."""

    def _entries(self) -> list[tuple[str, str, EventStop]]:
        app: _StopsOwner = self.app  # type: ignore[assignment]
        out = []
        for stop, words in ENTRIES:
            on = stop in app.stops
            title = f"{'Stop breaking' if on else 'Break'} on {words}"
            help_text = f"c stops at {words}" if not on else "remove this breakpoint"
            out.append((title, help_text, stop))
        return out

    async def discover(self) -> Hits:
        app: _StopsOwner = self.app  # type: ignore[assignment]
        for title, help_text, stop in self._entries():
            yield DiscoveryHit(title, partial(app.toggle_stop, stop), help=help_text)

    async def search(self, query: str) -> Hits:
        app: _StopsOwner = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for title, help_text, stop in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(app.toggle_stop, stop), help=help_text)
