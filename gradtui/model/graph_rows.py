"""The graph as the panel lays it out: a tree of rows, with one row per module region.

An autograd graph is a DAG; the panel draws it as a tree from the root, each node once
at its *home* (its first place, parents filled in torch's order, all inputs of a node
before any of theirs) and as a "see above" leaf elsewhere. A real model's graph is
hundreds of nodes deep, so where the walk enters a module's nodes
(``GraphNode.module``) a group row is put in between: ``transformer.h.0.attn · 24
nodes``. Everything below a group row, up to where the walk leaves that module, belongs
to it; groups nest when the walk enters a submodule. A group row is labelled with the
full dotted path (levels in between that would hold nothing but the next group are
skipped), and it counts the nodes of its module region. Nodes made outside any module
(``None``) or in the model's own ``forward`` (``""``) get no group, so a graph without
modules lays out exactly as it always has.

Pure data, computed once per graph shown: the widget adds tree nodes from these rows
lazily, and finding a node or the path to it are questions about rows. Must not import
textual or torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gradtui.model.graph import GraphNode


class Row:
    """One line of the laid-out graph: a node (``node`` set) or a module group (``group`` set)."""

    __slots__ = ("node", "group", "home", "children", "count", "parent")

    def __init__(self, node: int | None, group: str | None, home: bool, parent: Row | None) -> None:
        self.node = node
        #: The module's dotted path, for a group row.
        self.group = group
        #: For a node row: this is where the node's inputs are drawn (its first place).
        self.home = home
        self.children: list[Row] = []
        #: For a group row: how many nodes its module region holds.
        self.count = 0
        self.parent = parent

    def ancestors(self) -> list[Row]:
        """The rows above this one, the top row first."""
        out: list[Row] = []
        row = self.parent
        while row is not None:
            out.append(row)
            row = row.parent
        out.reverse()
        return out


def _within(module: str, group: str) -> bool:
    return module == group or module.startswith(group + ".")


def lay_out(nodes: Mapping[int, GraphNode], root: int) -> Row:
    """The rows of the graph under ``root`` (which must be in ``nodes``); returns the top row."""
    top = Row(root, None, True, None)
    homes = {root}
    # Each entry: a row whose inputs are still to be laid out, and the groups it is inside.
    # The root's own row is never grouped: the panel's first line is always the root's node.
    stack: list[tuple[Row, tuple[Row, ...]]] = [(top, ())]
    while stack:
        row, groups = stack.pop()
        assert row.node is not None
        placed: list[tuple[Row, tuple[Row, ...]]] = []
        for child in nodes[row.node].children:
            if child not in nodes:
                continue
            home = child not in homes
            homes.add(child)
            module = nodes[child].module
            inside = _keep(groups, module)
            parent = row
            # A "see above" leaf is only a pointer: it opens no group of its own.
            if home and module and (not inside or inside[-1].group != module):
                group = Row(None, module, True, row)
                row.children.append(group)
                inside = (*inside, group)
                parent = group
            child_row = Row(child, None, home, parent)
            parent.children.append(child_row)
            if home:
                for g in inside:
                    g.count += 1
                placed.append((child_row, inside))
        stack.extend(reversed(placed))
    return top


def _keep(groups: tuple[Row, ...], module: str | None) -> tuple[Row, ...]:
    """The groups (outer first) that still hold a node of ``module``."""
    if not module:
        return ()
    kept = 0
    for g in groups:
        if g.group is None or not _within(module, g.group):
            break
        kept += 1
    return groups[:kept]


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
