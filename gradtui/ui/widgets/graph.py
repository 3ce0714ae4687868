"""The graph panel: the grad_fn chain of the tensor in focus, as an expandable tree.

The tensor in focus is the root of the latest backward, or before any backward the
output of the latest op. Nodes carry torch's names; ``AccumulateGrad`` nodes carry the
script's name of their leaf. A node fed into several others (``theta * theta`` feeds
``theta``'s AccumulateGrad twice) is drawn once, under its first parent in torch's order;
its other places point back to it. Small graphs open fully; large ones open one level
and add children only when a node is expanded, so thousands of nodes stay responsive.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from gradtui.model import history, sentences
from gradtui.model.events import BackwardDone, OpCalled
from gradtui.model.graph import GraphNode, parent_counts, reachable
from gradtui.ui.view import View

#: Graphs up to this many nodes open fully; larger ones open one level at a time.
EXPAND_ALL_LIMIT = 150

Data = tuple[int, bool]  # (node id, whether this is the node's home: where its inputs are drawn)


class GraphView(Tree[Data]):
    """The autograd graph of the tensor in focus; Enter or Space opens and closes a node."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("graph", **kwargs)  # type: ignore[arg-type]
        self.show_root = True
        self.guide_depth = 3
        self._key: tuple[object, ...] | None = None
        self._graph_nodes: Mapping[int, GraphNode] = {}
        self._shared: dict[int, int] = {}  # node id -> how many parents, for shared nodes
        self._homes: set[int] = set()
        self._home_of: dict[int, TreeNode[Data]] = {}  # node id -> where its inputs are drawn
        self._marked: tuple[TreeNode[Data], Text] | None = None

    def show(self, view: View) -> None:
        self._show_graph(view)
        self._mark_running_node(view)

    def _mark_running_node(self, view: View) -> None:
        """Inside a backward pass: point at the node torch is running, with what flows through it."""
        if self._marked is not None:
            previous, original = self._marked
            previous.set_label(original)
            self._marked = None
        run = view.node_run
        tree_node = self._home_of.get(run.id) if run is not None else None
        if run is None or tree_node is None:
            return
        label = tree_node.label.copy() if isinstance(tree_node.label, Text) else Text(str(tree_node.label))
        self._marked = (tree_node, label)
        marked = label.copy()
        marked.append("  ◀ " + sentences.describe_flow(run), style="bold yellow")
        tree_node.set_label(marked)
        self.move_cursor(tree_node)

    def _show_graph(self, view: View) -> None:
        event = history.focus_graph_event(view.events, view.cursor)
        root_id = event.graph if isinstance(event, (OpCalled, BackwardDone)) else None
        key = (None if event is None else event.seq, root_id)
        if key == self._key:
            return
        self._key = key
        self.clear()
        self._home_of = {}
        self._marked = None
        self._graph_nodes = view.graph
        if event is None:
            self.border_title = "Graph"
            self.root.set_label(Text("no tensor operation yet", style="italic"))
            return
        self.root.set_label(_focus_label(view, event))
        if root_id is None or root_id not in view.graph:
            self.border_title = "Graph"
            self.root.add_leaf(Text("no grad_fn: this tensor is not part of an autograd graph", style="italic"))
            self.root.expand()
            return
        order = reachable(view.graph, root_id)
        self._shared = {n: c for n, c in parent_counts(view.graph, root_id).items() if c > 1}
        self._homes = set()
        self.border_title = f"Graph · {len(order)} node{'s' if len(order) != 1 else ''}"
        expand_all = len(order) <= EXPAND_ALL_LIMIT
        first = self._add(self.root, root_id)
        self.root.expand()
        if expand_all:
            self._fill_all(first)
        else:
            self._fill(first)
            first.expand()

    def _add(self, parent: TreeNode[Data], node_id: int) -> TreeNode[Data]:
        node = self._graph_nodes[node_id]
        home = node_id not in self._homes
        if home:
            self._homes.add(node_id)
        label = Text(node.name, style="bold" if node.children else "")
        if node.variable is not None:
            label.append(" · ")
            label.append(node.variable, style="bold green")
        if node_id in self._shared:
            uses = self._shared[node_id]
            label.append(f"  shared: used {uses}×" if home else "  shared: see above", style="magenta")
        has_inputs = home and bool(node.children)
        if has_inputs:
            label.append(f"  ({len(node.children)} input{'s' if len(node.children) != 1 else ''})", style="dim")
            added = parent.add(label, data=(node_id, True), allow_expand=True)
        else:
            added = parent.add_leaf(label, data=(node_id, False))
        if home:
            self._home_of[node_id] = added
        return added

    def _fill(self, tree_node: TreeNode[Data]) -> None:
        data = tree_node.data
        if data is None or not data[1] or tree_node.children:
            return
        for child in self._graph_nodes[data[0]].children:
            if child in self._graph_nodes:
                self._add(tree_node, child)

    def _fill_all(self, top: TreeNode[Data]) -> None:
        stack = [top]
        while stack:
            tree_node = stack.pop()
            self._fill(tree_node)
            tree_node.expand()
            stack.extend(reversed(tree_node.children))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Data]) -> None:
        self._fill(event.node)


def _focus_label(view: View, event: object) -> Text:
    if isinstance(event, BackwardDone):
        number = history.backward_number(view.events, event.seq)
        return Text.assemble((event.root or "root", "bold"), f"  (root of backward #{number})")
    assert isinstance(event, OpCalled)
    return Text.assemble((f"{event.op}({', '.join(event.args)})", "bold"), "  (output of the latest op)")
