"""A table keyed by objects' identity that forgets an object when it is garbage collected.

The engine remembers facts about live tensors it must never keep alive: the name a
parameter was given, the leaf a ``.grad`` belongs to, the factor ``GradScaler`` scaled a
loss by. ``id()`` alone is not a key for that (it is reused once an object dies), and
tensors cannot be dictionary keys by value. Each entry therefore holds a weak reference
that tells its object apart from a newcomer with the same id and removes the entry when
the object dies.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class IdentityTable(Generic[V]):
    """``table.get(obj)`` / ``table.put(obj, value)``; entries leave with their objects."""

    __slots__ = ("_entries", "_on_forget")

    def __init__(self, on_forget: Callable[[V], None] | None = None) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], V]] = {}
        #: Called with the value of an entry whose object died.
        self._on_forget = on_forget

    def get(self, obj: Any) -> V | None:
        entry = self._entries.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1]

    def put(self, obj: Any, value: V) -> None:
        key = id(obj)
        entries = self._entries
        on_forget = self._on_forget

        def forget(ref: weakref.ref[Any]) -> None:
            current = entries.get(key)
            if current is not None and current[0] is ref:
                del entries[key]
                if on_forget is not None:
                    on_forget(current[1])

        entries[key] = (weakref.ref(obj, forget), value)

    def items(self) -> Iterator[tuple[Any, V]]:
        """``(object, value)`` for the objects still alive."""
        for ref, value in list(self._entries.values()):
            obj = ref()
            if obj is not None:
                yield obj, value

    def __len__(self) -> int:
        return len(self._entries)
