"""The gradients panel's question, asked after every key, answered from what was decided once per event.

``history.grad_window`` builds the ``.grad`` histories from the last ``GRAD_WINDOW``
backward, zero_grad, clip and unscale events up to the cursor, from nothing, on every
call: it reads each event, compares each leaf's ``before`` with the value the leaf held
(an element by element comparison of nested lists of floats: four fifths of a redraw)
and writes each value shown as text. ``e`` or ``E`` moves that window by one event, so a
redraw redid 63 events' work to add one: 7 ms a redraw for a 6-leaf MLP, 60 ms for a
29-leaf transformer, at any length of run (2.5 and 11 ms with this index).

``GradIndex`` keeps, per event, the entries it adds to each leaf's history and the
outcome of each comparison (with the entry compared, so an answer is reused only where
the reference would compare the very same values), and the text of each value shown.
Moving by one event then decides one event afresh, whatever the run's length; the
histories are those ``grad_window`` gives, entry for entry.

The events must only ever be appended to (a live run) and never changed: what was
decided about event ``i`` holds for as long as the index does. What is kept is bounded
(``KEEP_EVENTS``, ``KEEP_TEXTS``), so a long walk through the run holds no more than a
screenful. Imports neither torch nor textual.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from gradtui.model.events import BackwardDone, Event, GradsClipped, GradsUnscaled, GradsZeroed
from gradtui.model.formatting import format_brief, format_tensor
from gradtui.model.history import (
    CLIP_MARK,
    GRAD_WINDOW,
    UNSCALE_MARK,
    GradEntry,
    GradWindow,
    format_grad_history,
    grad_positions,
    same_value,
)

#: Events whose decisions are kept: four windows' worth, so walking back and forth by
#: ``e``/``E`` or ``s``/``S`` finds every event it returns to already decided.
KEEP_EVENTS = 4 * GRAD_WINDOW
#: Texts of values kept: two per event for a dozen leaves over ``KEEP_EVENTS``; with
#: more leaves a text that fell out is only written again.
KEEP_TEXTS = 2 * 12 * KEEP_EVENTS


@dataclass(slots=True)
class _Written:
    """What one event writes into each leaf's history, and what was found comparing it with before."""

    #: ``(leaf, its value before the event, its value after)`` in the event's order; the
    #: after is None where a clip or unscale left the value as it was (nothing to show).
    changes: tuple[tuple[str, GradEntry, GradEntry | None], ...]
    #: leaf -> (the entry its ``before`` was compared with, whether the two differed).
    compared: dict[str, tuple[GradEntry, bool]] = field(default_factory=dict)

    def differs(self, name: str, before: GradEntry, last: GradEntry) -> bool:
        """Whether ``before`` is not the value ``last`` holds: ``history._record``'s test, made once per pair.

        ``last`` is nearly always the same entry whatever the window; after a clip that
        changed nothing it may be an equal one instead. The answer is reused only for the
        very entry it was found for, so it is the rebuild's even if ``same_value`` ever
        stopped being transitive (a tolerance, say).
        """
        known = self.compared.get(name)
        if known is not None and known[0] is last:
            return known[1]
        found = not same_value(last.value, before.value)
        self.compared[name] = (last, found)
        return found


def _written(event: Event) -> _Written:
    """The entries ``history._record`` makes of ``event`` (the ones it shares with each leaf's past aside)."""
    if not isinstance(event, BackwardDone | GradsZeroed | GradsClipped | GradsUnscaled):
        return _Written(())
    reset = isinstance(event, GradsZeroed)
    mark = CLIP_MARK if isinstance(event, GradsClipped) else (
        UNSCALE_MARK if isinstance(event, GradsUnscaled) else None)
    changes = []
    for name, change in event.grads.items():
        after = (None if mark is not None and same_value(change.before, change.after)
                 else GradEntry(event.seq, change.after, reset, mark))
        changes.append((name, GradEntry(event.seq, change.before), after))
    return _Written(tuple(changes))


class GradIndex:
    """``history.grad_window`` and the panel's pieces for ``events`` (appended to, never changed), kept per event."""

    def __init__(self, events: Sequence[Event], window: int = GRAD_WINDOW) -> None:
        self.events = events
        self._window = window
        self._written: OrderedDict[int, _Written] = OrderedDict()
        self._texts: OrderedDict[tuple[int, bool], tuple[GradEntry, str]] = OrderedDict()

    def grad_window(self, upto: int) -> GradWindow:
        """What ``history.grad_window(events, upto, window)`` gives, its entries built once per event."""
        found, cut = grad_positions(self.events, upto, self._window)
        histories: dict[str, list[GradEntry]] = {}
        for i in found:
            written = self._decided(i)
            for name, before, after in written.changes:
                entries = histories.get(name)
                if entries is None:
                    histories[name] = entries = [before]
                elif written.differs(name, before, entries[-1]):
                    entries.append(before)
                if after is not None:
                    entries.append(after)
        return GradWindow(histories, cut)

    def shown(self, upto: int, current: int, *,
              brief_above: int | None = None) -> list[tuple[str, list[tuple[str, bool]]]]:
        """Each leaf and its ``history.format_grad_history`` pieces, the value current at ``current``
        marked; each value as ``format_brief`` writes it when there are more than ``brief_above``
        leaves (the panel's line per leaf)."""
        window = self.grad_window(upto)
        brief = brief_above is not None and len(window.histories) > brief_above
        text = self.brief if brief else self.text
        return [(name, format_grad_history(entries, current, cut=window.cut, text=text))
                for name, entries in window.histories.items()]

    def text(self, entry: GradEntry, brief: bool = False) -> str:
        """``format_tensor`` (or ``format_brief``) of the entry's value, written once per entry
        (statistics of a large one take a while)."""
        key = (id(entry), brief)
        kept = self._texts.get(key)
        if kept is not None and kept[0] is entry:  # the entry is held here, so its id is not reused meanwhile
            self._texts.move_to_end(key)
            return kept[1]
        written = format_brief(entry.value) if brief else format_tensor(entry.value)
        self._texts[key] = (entry, written)
        if len(self._texts) > KEEP_TEXTS:
            self._texts.popitem(last=False)
        return written

    def brief(self, entry: GradEntry) -> str:
        return self.text(entry, brief=True)

    def _decided(self, i: int) -> _Written:
        kept = self._written.get(i)
        if kept is not None:
            self._written.move_to_end(i)
            return kept
        written = self._written[i] = _written(self.events[i])
        if len(self._written) > KEEP_EVENTS:
            self._written.popitem(last=False)
        return written
