"""The modules of one autograd graph as a tree of dotted paths, in the order backward meets them.

A real model's graph is hundreds of nodes; what the user recognises is the model's own
structure, ``named_modules()``: ``transformer`` holding ``ln_f``, ``h.1``, ``h.0``, … Each
node knows the module whose ``forward`` made it (``GraphNode.module``), so the graph's
modules form a tree of paths, and the graph panel's first view is that tree: one line per
module, with how many nodes it and its submodules made.

Order is the backward's, not the forward's: a module comes where the backward first
reaches one of its nodes, in a topological order of the graph from the root (a node only
after every node that feeds gradient into it; among those ready, the one torch's engine
would run first). Walking depth-first instead would follow a residual connection down to
the embeddings before it ever reached the block's MLP. Measured on every backward of the
corpus in ``tests/scripts/real/``: modules come in the order torch ran their first node.

Two kinds of path level carry nothing the user needs and are folded into their children's
labels: a level that made no node and holds a single submodule (``encoder.layers`` →
one line), and a container of numbered items that made no node itself (a ``ModuleList``:
``h.0``, ``h.1`` directly under ``transformer``, not under a line ``h``).

Pure data; must not import textual or torch.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

from gradtui.model.graph import GraphNode, parent_counts


def scope(node: GraphNode) -> str:
    """The module a node is drawn in: its path, or ``""`` for the model's own forward and
    for nodes made outside any module (both sit at the top of the outline)."""
    return node.module or ""


@dataclass(slots=True)
class ModuleGroup:
    """One line of the outline: a module, what it made itself, and its submodules."""

    #: The module's full dotted path (``""``: the top, outside every submodule).
    path: str
    #: What the line shows: the path below the enclosing line's (``attn``, ``h.0``).
    label: str
    #: Nodes made in exactly this module, in backward order.
    own: list[int] = field(default_factory=list)
    #: The submodule lines, in backward order (folded levels already lifted).
    groups: list[ModuleGroup] = field(default_factory=list)
    #: Nodes made in this module and all its submodules.
    count: int = 0
    #: The place, in backward order, of the first of those nodes.
    first: int = 0


def backward_order(nodes: Mapping[int, GraphNode], root: int) -> list[int]:
    """Every node under ``root`` once, each after all the nodes that pass gradient into it.

    Among the nodes ready to run, torch's CPU engine runs the one made last (the highest
    sequence number; a leaf's ``AccumulateGrad`` at once). gradtui numbers nodes as the
    ops that make them are recorded, so the highest id stands in for the latest made: a
    topological order either way, and the one torch ran in for the graphs measured."""
    waiting = parent_counts(nodes, root)
    order: list[int] = []
    ready = [(0, -root)]
    while ready:
        node_id = -heapq.heappop(ready)[1]
        order.append(node_id)
        for child in nodes[node_id].children:
            if child not in nodes:
                continue
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (0 if nodes[child].children else -1, -child))
    return order


class _Level:
    __slots__ = ("path", "name", "own", "children", "count", "first")

    def __init__(self, path: str, name: str, first: int) -> None:
        self.path = path
        self.name = name
        self.own: list[int] = []
        self.children: dict[str, _Level] = {}  # in the order the backward first met them
        self.count = 0
        self.first = first


def module_tree(nodes: Mapping[int, GraphNode], order: list[int]) -> ModuleGroup:
    """The outline of the nodes in ``order`` (a backward order): the top line's group."""
    top = _Level("", "", 0)
    for place, node_id in enumerate(order):
        level = top
        level.count += 1
        path = scope(nodes[node_id])
        if path:
            parts = path.split(".")
            for depth, name in enumerate(parts):
                child = level.children.get(name)
                if child is None:
                    child = level.children[name] = _Level(".".join(parts[: depth + 1]), name, place)
                level = child
                level.count += 1
        level.own.append(node_id)
    return _shown(top, "")


def _shown(level: _Level, label: str) -> ModuleGroup:
    groups: list[ModuleGroup] = []
    for child in level.children.values():
        groups.extend(_lifted(child, child.name))
    groups.sort(key=lambda g: g.first)
    return ModuleGroup(level.path, label, level.own, groups, level.count, level.first)


def _lifted(level: _Level, label: str) -> list[ModuleGroup]:
    """The lines ``level`` shows as: itself, or its children when it is a level to fold."""
    children = list(level.children.values())
    if not level.own and (len(children) == 1 or all(c.name.isdigit() for c in children)):
        lines: list[ModuleGroup] = []
        for child in children:
            lines.extend(_lifted(child, f"{label}.{child.name}"))
        return lines
    return [_shown(level, label)]
