"""The book of lasting names: one name per leaf, parameter and buffer for its whole life.

``engine.naming`` decides which name a tensor is seen under at an event; the book keeps
what was decided, so that ``model.0.bias`` is not called ``param`` on the next event
because a loop variable holds it now. It enforces two rules: a name is replaced only by
a better kind of name (``Rank``), and no two live tensors hold the same name. It holds
no tensor alive (``IdentityTable``).
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum
from typing import Any

import torch

from gradtui.engine.identity import IdentityTable


class Rank(IntEnum):
    """How good a name is; lower is better. A booked name is only replaced by a lower rank.

    Variable names are the exception that follows Python's own meaning: a variable names
    whatever it is bound to now, so a tensor bound to ``x`` takes the name ``x`` from an
    earlier tensor that is no longer bound to it (``x = x - lr * x.grad`` makes a new
    ``x``). The earlier one is ``DEMOTED`` and named anew where it shows up again.
    """

    MODULE_PATH = 0  # model.0.bias
    SELF_PATH = 1  # self.a, seen from inside the module's own method
    VARIABLE = 2  # w, in the outermost of the script's frames that sees it
    LOCAL = 3  # t, a function's parameter bound to w
    EXPRESSION = 4  # self.w, a.grad
    FALLBACK = 5  # tensor#3
    DEMOTED = 6  # a variable name since bound to another tensor: any name is better


class Entry:
    """A booked tensor's name, how good it is, and its place in the order names were given."""

    __slots__ = ("name", "rank", "order")

    def __init__(self, name: str, rank: Rank, order: int) -> None:
        self.name = name
        self.rank = rank
        self.order = order


class NameBook:
    """Names given to live tensors, by identity."""

    def __init__(self) -> None:
        self._entries: IdentityTable[Entry] = IdentityTable(on_forget=self._release)
        self._holders: dict[str, Entry] = {}  # booked name -> the live tensor's entry holding it
        self._bookings = 0

    def items(self) -> Iterator[tuple[Any, Entry]]:
        return self._entries.items()

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, t: torch.Tensor) -> Entry | None:
        return self._entries.get(t)

    def name_of(self, t: torch.Tensor) -> str | None:
        entry = self.entry(t)
        return entry.name if entry is not None and entry.rank != Rank.DEMOTED else None

    def order_of(self, t: torch.Tensor) -> int:
        entry = self.entry(t)
        return entry.order if entry is not None else self._bookings

    def demote(self, entry: Entry) -> None:
        entry.rank = Rank.DEMOTED
        self._release(entry)

    def _release(self, entry: Entry) -> None:
        if self._holders.get(entry.name) is entry:
            del self._holders[entry.name]

    def give(self, t: torch.Tensor, name: str, rank: Rank) -> str:
        """Give ``t`` the name ``name`` unless it already has one at least as good."""
        entry = self.entry(t)
        if entry is not None:
            if entry.rank <= rank:
                return entry.name
            self._release(entry)
        held = self._holders.get(name)
        if held is not None and held is not entry:
            if rank in (Rank.VARIABLE, Rank.LOCAL) and held.rank >= Rank.VARIABLE:
                self.demote(held)  # a variable names what it is bound to now
            else:
                name = self._free_variant(name)
        self._bookings += 1
        if entry is not None:
            # A better name also takes the better name's place in the order (a module's own).
            entry.name, entry.rank, entry.order = name, rank, self._bookings
        else:
            entry = Entry(name, rank, self._bookings)
            self._entries.put(t, entry)
        self._holders[name] = entry
        return name

    def _free_variant(self, name: str) -> str:
        n = 2
        while f"{name}#{n}" in self._holders:
            n += 1
        return f"{name}#{n}"
