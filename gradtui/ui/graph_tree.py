"""The graph panel's rows as tree nodes, made only when their parent opens.

``gradtui.model.graph_rows`` lays the graph out as rows (every line the panel could
show); a Textual tree node is made for a row only once its parent line opens, so that a
graph of thousands of nodes stays responsive. This holds which rows have tree nodes and
makes, opens and reveals them; the panel (``gradtui.ui.widgets.graph``) decides when.
It draws nothing itself: a row's text comes from the ``label`` it is given.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets.tree import TreeNode

from gradtui.model.graph_rows import Row

Data = Row | None


class RowTree:
    """The tree nodes made so far for the rows under ``top``, whose own node is ``root``."""

    def __init__(self, root: TreeNode[Data], top: Row, label: Callable[[Row], Text]) -> None:
        self.root = root
        self.top = top
        self._label = label
        self._tree_of: dict[int, TreeNode[Data]] = {id(top): root}  # id(row) -> its tree node, once made

    def node_of(self, row: Row) -> TreeNode[Data] | None:
        """``row``'s tree node, if it has been made."""
        return self._tree_of.get(id(row))

    def _add(self, parent: TreeNode[Data], row: Row) -> TreeNode[Data]:
        if row.children:
            added = parent.add(self._label(row), data=row, allow_expand=True)
        else:
            added = parent.add_leaf(self._label(row), data=row)
        self._tree_of[id(row)] = added
        return added

    def fill(self, tree_node: TreeNode[Data]) -> None:
        """Make the tree nodes of ``tree_node``'s children, unless they are made."""
        row = self.top if tree_node is self.root else tree_node.data
        if row is None or tree_node.children:
            return
        for child in row.children:
            self._add(tree_node, child)

    def open(self, top: TreeNode[Data], stop_at_groups: bool) -> None:
        """Open ``top`` and everything below it (down to module groups, which stay closed)."""
        stack = [top]
        while stack:
            tree_node = stack.pop()
            self.fill(tree_node)
            tree_node.expand()
            for child in reversed(tree_node.children):
                row = child.data
                if row is None or not row.children:
                    continue
                if stop_at_groups and row.group is not None:
                    continue
                stack.append(child)

    def open_containers(self) -> None:
        """Open the module lines that hold only module lines (``transformer``): the outline."""
        stack = list(self.root.children)
        while stack:
            tree_node = stack.pop()
            row = tree_node.data
            if row is None or row.group is None or not all(c.group is not None for c in row.children):
                continue
            self.fill(tree_node)
            tree_node.expand()
            stack.extend(tree_node.children)

    def reveal(self, row: Row) -> TreeNode[Data]:
        """Make the tree nodes down to ``row`` and open its ancestors."""
        tree_node = self._tree_of.get(id(row))
        for above in (*row.ancestors(), row):
            made = self._tree_of.get(id(above))
            if made is None:
                assert above.parent is not None  # the top row is the tree's root, made first
                parent = self._tree_of[id(above.parent)]
                self.fill(parent)
                made = self._tree_of[id(above)]
            if above is not row and not made.is_expanded:
                made.expand()
            tree_node = made
        assert tree_node is not None
        return tree_node
