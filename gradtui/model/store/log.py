"""The engine's side of a recording: the events and graph nodes of a live run, in bounded memory.

The engine appends every event to an ``EventLog`` and every autograd node to a
``GraphLog``; both pass them to the ``StoreWriter`` and keep only the newest few
thousand events in memory (what the engine's notes look back at). Reading an older
event, which only a test or an export does, flushes the writer and reads the file.
Without a writer (``--trace``), older events are simply gone: the trace has printed them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import overload

from gradtui.model.events import Event
from gradtui.model.graph import GraphNode
from gradtui.model.store.reader import Recording, StoredEvents
from gradtui.model.store.writer import StoreWriter

#: Events the engine keeps decoded in memory, at most.
WINDOW = 4096


class EventLog(Sequence[Event]):
    """Every event of a run by position; the newest ``window`` in memory, the rest in the file."""

    def __init__(self, writer: StoreWriter | None, window: int = WINDOW) -> None:
        self.writer = writer
        self._recent: deque[Event] = deque(maxlen=window)
        self._count = 0
        self._reader: StoredEvents | None = None

    def append(self, event: Event) -> None:
        if self.writer is not None:
            self.writer.add(event)
        self._recent.append(event)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    @property
    def first_in_memory(self) -> int:
        return self._count - len(self._recent)

    @overload
    def __getitem__(self, i: int) -> Event: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Event]: ...
    def __getitem__(self, i: int | slice) -> Event | Sequence[Event]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError("event index out of range")
        first = self.first_in_memory
        if i >= first:
            return self._recent[i - first]
        return self._stored()[i]

    def __iter__(self) -> Iterator[Event]:
        first = self.first_in_memory
        if first:
            stored = self._stored()
            for i in range(first):
                yield stored[i]
        yield from list(self._recent)

    def _stored(self) -> StoredEvents:
        if self.writer is None:
            raise IndexError(f"events before {self.first_in_memory} are no longer kept (the run is not recorded)")
        self.writer.flush()
        if self._reader is None:
            self._reader = StoredEvents(Recording(self.writer.path), known=0)
        self._reader.know(self._count)
        return self._reader


class GraphLog:
    """The node table the engine adds to: each node goes to the writer, none stays in memory."""

    def __init__(self, writer: StoreWriter | None) -> None:
        self._writer = writer
        self._count = 0

    def __setitem__(self, node_id: int, node: GraphNode) -> None:
        if self._writer is not None:
            self._writer.add_node(node)
        self._count += 1

    def __len__(self) -> int:
        return self._count
