"""Where ``]`` and ``[`` take the cursor: the next cell's first line, the previous cell's.

A cell is where the run is at the top level: the latest line event on a line where one
of the cell's top-level statements begins (``CellMap.top_lines``). A function defined in
cell 2 and called from cell 5 runs inside cell 5, so ``]`` there goes on to cell 6.
``]`` is ``c`` with every later cell's top-level lines as extra breakpoints (the user's
breakpoints and event stops still stop it on the way), so over the events already known
and in the engine it stops at the same event; ``[`` only walks back over known events.
Must not import torch or textual.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

from gradtui.model import navigation
from gradtui.model.cells import CellMap
from gradtui.model.index import EventIndex
from gradtui.model.navigation import Cursor, EndOfRun, NoEarlier, Resume
from gradtui.model.stops import EventStop

NO_CELLS: Final = "this script has no cells: ] and [ move between a notebook's cells or a script's # %% cells"


def current_cell(events: EventIndex, cells: CellMap, file: str, upto: int) -> int | None:
    """The position in ``cells`` of the cell the run is in at event ``upto`` (None: before any)."""
    everything = _spots(cells, file, range(len(cells.cells)))
    found = events.line_latest(everything, upto) if upto >= 0 else None
    return None if found is None else cells.index(events[found].line)


def next_cell(events: EventIndex, cells: CellMap, file: str, cursor: Cursor, *, more_coming: bool,
              breakpoints: Collection[tuple[str, int]] = (),
              stops: Sequence[EventStop] = ()) -> Cursor | Resume | EndOfRun:
    """Where ``]`` goes: the first top-level line of a later cell (or a breakpoint or stop on the way)."""
    here = current_cell(events, cells, file, cursor.event)
    later = _spots(cells, file, range(0 if here is None else here + 1, len(cells.cells)))
    return navigation.forward(events, Cursor(cursor.event), "continue", more_coming=more_coming,
                              breakpoints=set(breakpoints) | later, stops=stops)


def previous_cell(events: EventIndex, cells: CellMap, file: str, cursor: Cursor) -> Cursor | NoEarlier:
    """Where ``[`` goes: the first event of the cell that ran before the current one."""
    here = current_cell(events, cells, file, cursor.event)
    if here is None:
        return NoEarlier(Cursor(cursor.event), "cell")
    before = events.line_latest(_spots(cells, file, range(here)), cursor.event)
    if before is None:
        return NoEarlier(Cursor(cursor.event), "cell")
    cell = cells.index(events[before].line)
    assert cell is not None
    return Cursor(start_of_cell(events, cells, file, cell, before))


def start_of_cell(events: EventIndex, cells: CellMap, file: str, cell: int, inside: int) -> int:
    """The first event of the run of ``cell`` that event ``inside`` belongs to."""
    own = _spots(cells, file, [cell])
    others = _spots(cells, file, [i for i in range(len(cells.cells)) if i != cell])
    previous = events.line_latest(others, inside)
    first = events.line_following(own, -1 if previous is None else previous)
    return inside if first is None or first > inside else first


def _spots(cells: CellMap, file: str, positions: range | list[int]) -> frozenset[tuple[str, int]]:
    return frozenset((file, line) for line in cells.top_lines(positions))
