"""Recording autograd graphs into the timeline's node table, each node once.

Every op event and every backward points at its tensor's ``grad_fn`` node. Walking the
whole graph for each event would cost O(graph) per op and O(n²) over a forward pass, so
nodes already recorded are remembered and only the new ones (usually one per op) are
walked. Autograd nodes cannot be weakly referenced, so the memory holds them strongly;
it is emptied after each backward (the graph is consumed then) and whenever it grows past
``MAX_REMEMBERED``, so it never keeps a script's old graphs alive for long. A node seen
again after that is recorded again under a new id: a few duplicate rows, never a wrong
one, because an id is only reused for a node the memory still holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from gradtui.model.graph import GraphNode

#: Past this many remembered nodes the memory is emptied (a script that builds graphs
#: without ever calling backward would otherwise keep every one of them alive).
MAX_REMEMBERED = 20_000


class NodeTable(Protocol):
    """Where nodes go: the timeline's dict, or a recording's ``GraphLog``."""

    def __setitem__(self, node_id: int, node: GraphNode) -> None: ...
    def __len__(self) -> int: ...


class GraphRecorder:
    """Adds the nodes under a tensor's ``grad_fn`` to ``table`` and returns the root's id."""

    def __init__(self, table: NodeTable) -> None:
        self._table = table
        self._ids: dict[int, tuple[int, Any]] = {}  # id(node) -> (our id, the node, kept alive)
        self._next_id = len(table)

    def record(self, t: torch.Tensor, name_of: Callable[[torch.Tensor], str], module: str | None = None,
               module_class: str | None = None) -> int | None:
        """Record ``t``'s graph; nodes new to the table are marked as made in ``module``.

        The new nodes are the op's own (its output's node, the nodes torch adds inside it,
        the ``AccumulateGrad`` of a parameter it uses first), or nodes of earlier
        operations gradtui did not record, which then take the module of the first
        recorded operation that uses them.
        """
        fn = t.grad_fn
        if fn is None:
            return None
        if len(self._ids) > MAX_REMEMBERED:
            self.forget()
        return self._record(fn, name_of, module, module_class)

    def nodes_under(self, t: torch.Tensor) -> list[tuple[int, Any]]:
        """``(id, node)`` for every recorded node under ``t.grad_fn`` (call ``record`` first)."""
        fn = t.grad_fn
        found: list[tuple[int, Any]] = []
        seen: set[int] = set()
        stack = [fn] if fn is not None else []
        while stack:
            node = stack.pop()
            known = self._ids.get(id(node))
            if known is None or id(node) in seen:
                continue
            seen.add(id(node))
            found.append((known[0], node))
            stack.extend(child for child, _ in node.next_functions if child is not None)
        return found

    def forget(self) -> None:
        self._ids.clear()

    def id_of(self, node: Any) -> int | None:
        """The table id of an autograd node recorded and still remembered, else None."""
        return self._id(node)

    def _id(self, node: Any) -> int | None:
        known = self._ids.get(id(node))
        return known[0] if known is not None else None

    def _record(self, root: Any, name_of: Callable[[torch.Tensor], str], module: str | None,
                module_class: str | None) -> int:
        known = self._id(root)
        if known is not None:
            return known
        # Iterative: a deep graph (an unrolled RNN, a long loop) must not hit the recursion limit.
        # ``next_functions`` builds a new tuple on every read: read once per node.
        new: list[tuple[Any, list[Any]]] = []
        ids = self._ids
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in ids:
                continue
            ids[id(node)] = (self._next_id, node)
            self._next_id += 1
            kids = [child for child, _ in node.next_functions if child is not None]
            new.append((node, kids))
            stack.extend(kids)
        for node, kids in new:
            node_id = ids[id(node)][0]
            children = tuple(ids[id(c)][0] for c in kids)
            variable = getattr(node, "variable", None)
            label = name_of(variable) if isinstance(variable, torch.Tensor) else None
            self._table[node_id] = GraphNode(node_id, type(node).__name__, children, label, module, module_class)
        return self._ids[id(root)][0]
