"""Finding in the graph panel (``/``): the text typed so far, its matches, the one on screen.

Kept apart from the panel (``gradtui.ui.widgets.graph``), which turns keys into calls here
and moves its cursor to the match returned. The matching itself is a question about rows
(``gradtui.model.graph_rows.find``). Must not import Textual.
"""

from __future__ import annotations

from collections.abc import Mapping

from gradtui.model import graph_rows
from gradtui.model.graph import GraphNode
from gradtui.model.graph_rows import Row


class GraphFind:
    """One find in one graph: started by ``/``, ended by the panel (Escape, another key, blur)."""

    def __init__(self) -> None:
        #: The text being looked for (None: not finding).
        self.text: str | None = None
        self._matches: list[Row] = []
        self._match = -1

    def start(self) -> None:
        self.text = ""
        self._matches, self._match = [], -1

    def end(self) -> None:
        self.text = None

    def search(self, text: str, top: Row | None, nodes: Mapping[int, GraphNode]) -> Row | None:
        """Look for ``text`` afresh; the first match, if any."""
        self.text = text
        self._matches = graph_rows.find(top, nodes, text) if top is not None else []
        self._match = -1
        return self.next_match()

    def next_match(self) -> Row | None:
        """The match after the one on screen (the first again after the last); None without matches."""
        if not self._matches:
            return None
        self._match = (self._match + 1) % len(self._matches)
        return self._matches[self._match]

    def subtitle(self) -> str:
        """What the panel's lower border says while finding."""
        if not self.text:
            found = "type a node, leaf or module name"
        elif self._matches:
            found = f"{self._match + 1} of {len(self._matches)} · Enter next"
        else:
            found = "no match"
        return f"find: {self.text or ''}▏ {found} · Esc done"
