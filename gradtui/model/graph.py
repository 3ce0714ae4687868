"""The autograd graph as the timeline keeps it: nodes by id, recorded once each.

An autograd node never changes once torch has created it (its inputs, ``next_functions``,
are fixed), so the timeline holds one table of nodes for the whole run and events point
into it by id: an op's output and a backward's root each name their ``grad_fn`` node.
The table grows by the few nodes each operation adds, however many events refer to the
same graph. Ids are gradtui's own counters, never memory addresses, so a replay or a
screenshot reads the same every time. This module must not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gradtui.model.quick_init import quick_init


@quick_init
@dataclass(frozen=True, slots=True)
class GraphNode:
    """One autograd node: torch's class name, its inputs, and the leaf it accumulates into."""

    id: int
    #: torch's name for the node: ``MulBackward0``, ``AccumulateGrad``, ``CubeBackward``.
    name: str
    #: The nodes this one passes gradients to (``next_functions``), in torch's order.
    children: tuple[int, ...] = ()
    #: For ``AccumulateGrad``: the script's name of the leaf tensor whose ``.grad`` it fills.
    variable: str | None = None
    #: The dotted path, inside the model the script called, of the module whose ``forward``
    #: made the node (``transformer.h.0.attn``; ``""`` the model itself); None outside any
    #: module, or when it is not known (files from before it was recorded).
    module: str | None = None
    #: The class of that module (``Linear``, ``CausalSelfAttention``): a Sequential's ``0``
    #: and ``1`` say little on their own. None where ``module`` is None or not known.
    module_class: str | None = None


def reachable(nodes: Mapping[int, GraphNode], root: int) -> list[int]:
    """Ids reachable from ``root`` (itself included), each once, depth-first in torch's order."""
    seen: set[int] = set()
    order: list[int] = []
    stack = [root]
    while stack:
        node_id = stack.pop()
        if node_id in seen or node_id not in nodes:
            continue
        seen.add(node_id)
        order.append(node_id)
        stack.extend(reversed(nodes[node_id].children))
    return order


def parent_counts(nodes: Mapping[int, GraphNode], root: int) -> dict[int, int]:
    """How many edges of the graph under ``root`` lead into each node: above one, it is shared."""
    counts: dict[int, int] = {}
    for node_id in reachable(nodes, root):
        for child in nodes[node_id].children:
            counts[child] = counts.get(child, 0) + 1
    return counts
