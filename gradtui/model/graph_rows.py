"""The graph as the panel lays it out: a tree of rows, a module outline for a real model.

An autograd graph is a DAG; the panel draws it as a tree from the root, each node once
at its *home* (its first place, parents filled in torch's order, all inputs of a node
before any of theirs) and as a "see above" leaf elsewhere. A graph without module
information (``GraphNode.module``) lays out that way and nothing else.

A real model's graph is hundreds of nodes deep, and drawn from the loss it is one long
chain through ``lm_head``, ``ln_f``, every block, down to the embeddings. So when nodes
know their module, the rows are the model's outline (``gradtui.model.module_tree``): one
group row per module, nested by path, counting its nodes. A group row holds its
submodules and its own nodes, interleaved in backward order; its own nodes are the graph
*restricted to that module*: a node's inputs made in the same module are its children,
an input made in any other module is a one-line reference to it (``→ NativeLayerNorm…
in transformer.ln_f``), laid out where it lives. Nodes of the model's own forward and
nodes made outside any module are at the top, beside the top-level modules.

Above everything is one row standing for the panel's own first line (the loss, or the
latest op's output): the rows under it are what the panel shows beneath that line.

Pure data, computed once per graph shown: the widget adds tree nodes from these rows
lazily, and finding a node or the path to it are questions about rows. Must not import
textual or torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gradtui.model.graph import GraphNode
from gradtui.model.module_tree import ModuleGroup, backward_order, module_tree, scope


class Row:
    """One line of the laid-out graph: a node (``node`` set), a module group (``group``
    set) or, with neither, the panel's first line above them all."""

    __slots__ = ("node", "group", "home", "children", "count", "parent", "label", "reference")

    def __init__(self, node: int | None, group: str | None, home: bool, parent: Row | None) -> None:
        self.node = node
        #: The module's full dotted path, for a group row.
        self.group = group
        #: For a node row: this is where the node's inputs are drawn (its first place).
        self.home = home
        self.children: list[Row] = []
        #: For a group row: how many nodes it and its submodules made.
        self.count = 0
        self.parent = parent
        #: For a group row: the part of its path it shows (``attn`` inside ``h.0``).
        self.label = group or ""
        #: For a node row: the node lives in another module, where its inputs are drawn.
        self.reference = False

    def ancestors(self) -> list[Row]:
        """The rows above this one, the top row first."""
        out: list[Row] = []
        row = self.parent
        while row is not None:
            out.append(row)
            row = row.parent
        out.reverse()
        return out


def lay_out(nodes: Mapping[int, GraphNode], root: int) -> Row:
    """The rows of the graph under ``root`` (which must be in ``nodes``); returns the top row."""
    top = Row(None, None, True, None)
    homes: set[int] = set()
    order = backward_order(nodes, root)
    if not any(nodes[n].module for n in order):
        first = Row(root, None, True, top)
        top.children.append(first)
        homes.add(root)
        _grow(nodes, first, homes, None)
        return top
    place = {n: i for i, n in enumerate(order)}
    # A node with a parent in its own module is drawn below it; the others start a tree.
    below: set[int] = set()
    for n in order:
        for child in nodes[n].children:
            if child in nodes and scope(nodes[child]) == scope(nodes[n]):
                below.add(child)
    _fill_group(nodes, module_tree(nodes, order), top, place, below, homes)
    return top


def _fill_group(nodes: Mapping[int, GraphNode], group: ModuleGroup, row: Row, place: Mapping[int, int],
                below: set[int], homes: set[int]) -> None:
    items: list[tuple[int, ModuleGroup | int]] = [(g.first, g) for g in group.groups]
    items += [(place[n], n) for n in group.own if n not in below]
    items.sort(key=lambda item: item[0])
    for _, item in items:
        if isinstance(item, ModuleGroup):
            child = Row(None, item.path, True, row)
            child.label, child.count = item.label, item.count
            row.children.append(child)
            _fill_group(nodes, item, child, place, below, homes)
        else:
            child = Row(item, None, True, row)
            row.children.append(child)
            homes.add(item)
            _grow(nodes, child, homes, group.path)


def _grow(nodes: Mapping[int, GraphNode], start: Row, homes: set[int], within: str | None) -> None:
    """Lay out the inputs below ``start``: the whole graph (``within`` None) or the part
    made in the module ``within``, inputs from elsewhere as references."""
    stack = [start]
    while stack:
        row = stack.pop()
        assert row.node is not None
        placed: list[Row] = []
        for child in nodes[row.node].children:
            if child not in nodes:
                continue
            if within is not None and scope(nodes[child]) != within:
                ref = Row(child, None, False, row)
                ref.reference = True
                row.children.append(ref)
                continue
            home = child not in homes
            homes.add(child)
            child_row = Row(child, None, home, row)
            row.children.append(child_row)
            if home:
                placed.append(child_row)
        stack.extend(reversed(placed))


def walk(top: Row) -> Iterator[Row]:
    """Every row, top to bottom as the fully opened tree shows them."""
    stack = [top]
    while stack:
        row = stack.pop()
        yield row
        stack.extend(reversed(row.children))


def find(top: Row, nodes: Mapping[int, GraphNode], text: str) -> list[Row]:
    """Rows matching ``text`` (case-insensitive, part of a word): node names, leaf names,
    module paths; each node once, at its home."""
    needle = text.casefold()
    if not needle:
        return []
    found: list[Row] = []
    for row in walk(top):
        if row.group is not None:
            if needle in row.group.casefold():
                found.append(row)
        elif row.home and row.node is not None:
            node = nodes[row.node]
            if needle in node.name.casefold() or (node.variable is not None and needle in node.variable.casefold()):
                found.append(row)
    return found


def homes(top: Row) -> dict[int, Row]:
    """Each node's home row, by node id."""
    return {row.node: row for row in walk(top) if row.node is not None and row.home}


def path(row: Row, nodes: Mapping[int, GraphNode]) -> tuple[list[str], list[int]]:
    """The names from the top down to ``row`` (module lines as they read: ``h.0``,
    ``attn``), and the places of the module lines among them."""
    names: list[str] = []
    groups: list[int] = []
    for above in (*row.ancestors(), row):
        if above.group is not None:
            groups.append(len(names))
            names.append(above.label)
        elif above.node is not None:
            names.append(nodes[above.node].name)
    return names, groups


def fit_path(names: list[str], keep: list[int], *, width: int) -> str:
    """``a ▸ m ▸ n ▸ … ▸ z``: the root, the last name, the module lines ``keep`` (the
    innermost first, each if it fits) and as many of the last names as fit in ``width``;
    an ellipsis where names are left out."""
    sep = " ▸ "

    def joined(chosen: set[int]) -> str:
        parts: list[str] = []
        for i, name in enumerate(names):
            if i in chosen:
                parts.append(name)
            elif parts and parts[-1] != "…":
                parts.append("…")
        return sep.join(parts)

    if len(names) < 3 or len(sep.join(names)) <= width:
        return sep.join(names)
    chosen = {0, len(names) - 1}
    for i in reversed(keep):
        if i not in chosen and len(joined(chosen | {i})) <= width:
            chosen.add(i)
    for i in range(len(names) - 2, 0, -1):
        if i in chosen:
            continue
        if len(joined(chosen | {i})) > width:
            break
        chosen.add(i)
    return joined(chosen)
