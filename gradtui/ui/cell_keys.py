"""The keys ``]`` and ``[``: on to the next cell, back to the previous one.

A mixin of the app, like ``gradtui.ui.inspect_actions``: where the keys go is
``gradtui.model.cell_moves``; this module finds the cells of the file on screen and
hands the move to the app's own forward and back handling, so ``]`` past the known
events runs the engine exactly as ``c`` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from textual.app import App

from gradtui.model import cell_moves
from gradtui.model.cells import CellMap, cells_of
from gradtui.model.events import Event
from gradtui.model.index import EventIndex
from gradtui.model.navigation import Cursor, EndOfRun, NoEarlier, Resume
from gradtui.model.stops import EventStop
from gradtui.model.timeline import Timeline


class CellKeys(App[None]):
    """The cell-moving half of ``GradtuiApp``, which provides the state below."""

    events: EventIndex
    cursor: int
    breakpoints: set[tuple[str, int]]
    stops: list[EventStop]
    timeline: Timeline
    engine: Any
    _ended: Any
    _sources: Mapping[str, str]

    def _go(self, move: Cursor | Resume | EndOfRun, *, continuing: bool) -> None:
        raise NotImplementedError

    def _cannot_move_on(self) -> bool:
        raise NotImplementedError

    def _place(self, cursor: Cursor) -> None:
        raise NotImplementedError

    def redraw(self) -> None:
        raise NotImplementedError

    def action_cell(self, step: int) -> None:
        found = self._cells()
        if found is None:
            self.notify(cell_moves.NO_CELLS, timeout=3)
            return
        file, cells = found
        if step < 0:
            move = cell_moves.previous_cell(self.events, cells, file, Cursor(self.cursor))
            if isinstance(move, NoEarlier):
                self.notify(move.message, timeout=3)
            self._place(move.cursor if isinstance(move, NoEarlier) else move)
            self.redraw()
            return
        if self._cannot_move_on():
            return
        more_coming = self.engine is not None and self._ended is None
        self._go(cell_moves.next_cell(self.events, cells, file, Cursor(self.cursor), more_coming=more_coming,
                                      breakpoints=self.breakpoints, stops=self.stops), continuing=True)

    def _cells(self) -> tuple[str, CellMap] | None:
        """The file on screen when it has cells, else the main script when it has."""
        event: Event | None = self.events[self.cursor] if 0 <= self.cursor < len(self.events) else None
        names = [event.file] if event is not None else []
        names.append(os.path.basename(self.timeline.script))
        for name in names:
            cells = cells_of(name, self._sources)
            if cells is not None:
                return name, cells
        return None
