"""The graph panel: the grad_fn chain of the tensor in focus, as an expandable tree.

The tensor in focus is the root of the latest backward, or before any backward the
output of the latest op. Nodes carry torch's names; ``AccumulateGrad`` nodes carry the
script's name of their leaf. A node fed into several others (``theta * theta`` feeds
``theta``'s AccumulateGrad twice) is drawn once, under its first parent in torch's order;
its other places point back to it. A real model's graph opens as its module outline
(``▶ h.0 · 62 nodes``, nested like ``named_modules()``, in backward order; see
``gradtui.model.graph_rows``): one closed line per module that made nodes of its own and
per tree of nodes outside modules, pure containers (``transformer``) open. Opening a
module shows its submodules and the part of the graph it made, an input from another
module as ``→ NativeLayerNormBackward0 in transformer.ln_f`` (Enter jumps there). A
graph without modules opens fully when small, one level at a time when large. ``+``
opens everything, ``-`` goes back to the outline, ``/`` finds a node, a leaf or a module
by name (typing jumps to the first match, opening the modules on the way; Enter to the
next, Escape ends); with the panel focused its lower border shows the path from the root
to the selected line. This module decides what is open and answers keys; how a line
reads is ``gradtui.ui.graph_labels``, the tree nodes made lazily for the rows
``gradtui.ui.graph_tree``, the state of a find ``gradtui.ui.graph_find``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from gradtui.model import graph_rows, history, sentences
from gradtui.model.graph import GraphNode, parent_counts, reachable
from gradtui.model.graph_rows import Row
from gradtui.model.scope_lookup import node_names
from gradtui.ui.graph_find import GraphFind
from gradtui.ui.graph_labels import focus_label, plain, row_label
from gradtui.ui.graph_tree import Data, RowTree
from gradtui.ui.view import View

#: Graphs without modules of up to this many lines open fully; larger ones open one
#: level at a time.
EXPAND_ALL_LIMIT = 150


class GraphView(Tree[Data]):
    """The autograd graph of the tensor in focus; Enter or Space opens and closes a line."""

    BINDINGS = [
        Binding("plus", "expand_all", "open all", show=False),
        Binding("minus", "collapse_all", "close all", show=False),
        Binding("slash", "find", "find", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        #: While ``show`` rebuilds the tree (set before Tree's init, which invalidates).
        self._showing = False
        super().__init__("graph", **kwargs)  # type: ignore[arg-type]
        self.show_root = True
        self.guide_depth = 3
        self._key: tuple[object, ...] | None = None
        self._view: View | None = None
        self._graph_nodes: Mapping[int, GraphNode] = {}
        self._rows: RowTree | None = None  # the rows of the graph on screen, as tree nodes
        self._homes: dict[int, Row] = {}  # node id -> its home row
        self._marked: tuple[TreeNode[Data], Text] | None = None
        self._find = GraphFind()

    def show(self, view: View) -> None:
        self._view = view
        self._showing = True
        try:
            self._show_graph(view)
            self._mark_running_node(view)
        finally:
            self._showing = False
        # The lines now, not when first drawn: their count and width set ``virtual_size``,
        # which lays the screen out if it changed, in the same layout as the other panels'.
        self._tree_lines  # noqa: B018

    def _invalidate(self) -> None:
        """As ``Tree``'s, but while ``show`` rebuilds the tree, without asking for a layout.

        ``Tree`` asks for one on every node added; the screen's layout then ran before the
        new lines were built, and building them (at the first draw) changed the virtual
        size, which laid the whole screen out a second time on every key.
        """
        if not self._showing:
            super()._invalidate()
            return
        self._clear_line_cache()
        self._updates += 1
        self.root._reset()
        self.refresh()

    def _mark_running_node(self, view: View) -> None:
        """Inside a backward pass: point at the node torch is running, with what flows through it."""
        if self._marked is not None:
            previous, original = self._marked
            previous.set_label(original)
            self._marked = None
        run = view.node_run
        row = self._homes.get(run.id) if run is not None else None
        if run is None or row is None:
            return
        tree_node = self._reveal(row)
        label = tree_node.label.copy() if isinstance(tree_node.label, Text) else Text(str(tree_node.label))
        self._marked = (tree_node, label)
        marked = label.copy()
        marked.append("  ◀ " + sentences.describe_flow(run), style="bold yellow")
        tree_node.set_label(marked)
        self._go_to(tree_node)

    def _show_graph(self, view: View, force: bool = False) -> None:
        event = history.focus_graph_event(view.events, view.cursor)
        root_id = None if event is None else event.graph
        names = node_names(view.events, view.cursor) if event is not None else {}
        key = (None if event is None else event.seq, root_id, tuple(names.items()))
        if key == self._key and not force:
            return
        self._key = key
        self.clear()
        self._rows = None
        self._homes = {}
        self._marked = None
        self._graph_nodes = view.graph
        if event is None:
            self.border_title = "Graph"
            self.root.set_label(Text("no tensor operation yet", style="italic"))
            return
        self.root.set_label(focus_label(view, event))
        if root_id is None or root_id not in view.graph:
            self.border_title = "Graph"
            self.root.add_leaf(Text("no grad_fn: this tensor is not part of an autograd graph", style="italic"))
            self.root.expand()
            return
        order = reachable(view.graph, root_id)
        graph = view.graph
        classes = {graph[n].module: graph[n].module_class for n in order if graph[n].module_class}
        shared = {n: c for n, c in parent_counts(graph, root_id).items() if c > 1}
        top = graph_rows.lay_out(graph, root_id)
        self._homes = graph_rows.homes(top)
        self.border_title = f"Graph · {len(order)} node{'s' if len(order) != 1 else ''}"
        rows = self._rows = RowTree(self.root, top, partial(row_label, nodes=graph, shared=shared,
                                                            module_classes=classes, names=names))
        self.root.expand()
        if any(row.group is not None for row in top.children):
            # A module outline: one line per top-level module and per tree of the nodes
            # outside modules, so that the model's structure shows even in a small panel.
            rows.fill(self.root)
            rows.open_containers()
        elif sum(1 for _ in graph_rows.walk(top)) - 1 <= EXPAND_ALL_LIMIT:
            rows.open(self.root, stop_at_groups=True)
        else:
            rows.fill(self.root)
            first = self.root.children[0]
            rows.fill(first)
            first.expand()
        home = self._homes.get(root_id)
        if home is not None and any(row.group is not None for row in home.ancestors()):
            rows.reveal(home)  # the tensor in focus was made inside a module: show where
        self._refresh_subtitle()

    def _reveal(self, row: Row) -> TreeNode[Data]:
        assert self._rows is not None  # a row on screen belongs to the graph on screen
        return self._rows.reveal(row)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Data]) -> None:
        row = event.node.data
        if self._rows is None:
            return
        # Opening a module group opens its own nodes at once: one Enter per module.
        if row is not None and row.group is not None and not event.node.children:
            self._rows.open(event.node, stop_at_groups=True)
        else:
            self._rows.fill(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Data]) -> None:
        row = event.node.data
        # A reference is a link: Enter (or a click) goes to the node where it lives.
        if row is not None and row.reference and row.node in self._homes:
            event.stop()
            self._go_to(self._reveal(self._homes[row.node]))

    # ------------------------------------------------------------------ keys

    def action_expand_all(self) -> None:
        if self._rows is not None:
            self._rows.open(self.root, stop_at_groups=False)

    def action_collapse_all(self) -> None:
        """Back to the first view: the module outline."""
        if self._view is None:
            return
        cursor = self.cursor_node
        row = cursor.data if cursor is not None else None
        held = [r.group for r in (*row.ancestors(), row) if r.group is not None] if row is not None else []
        self._show_graph(self._view, force=True)
        self.scroll_home(animate=False)
        # The cursor stays on the outline: on the innermost module line that held it.
        rows = self._rows
        lines = {r.group: r for r in graph_rows.walk(rows.top) if r.group is not None} if rows else {}
        shown = (rows.node_of(lines[path]) for path in reversed(held) if path in lines and rows)
        target = next((n for n in shown if n is not None and _visible(n)), None)
        if target is not None:
            self._go_to(target)
        else:
            self.cursor_line = 0
        self._mark_running_node(self._view)

    def action_find(self) -> None:
        self._find.start()
        self._refresh_subtitle()

    async def _on_key(self, event: events.Key) -> None:
        finding = self._find.text
        if finding is None:
            return
        key = event.key
        if key == "escape":
            self._find.end()
        elif key == "enter":
            self._show_match(self._find.next_match())
        elif key == "backspace":
            self._search(finding[:-1])
        elif event.is_printable and event.character is not None:
            self._search(finding + event.character)
        else:
            self._find.end()  # any other key ends finding, and does what it always does
            self._refresh_subtitle()
            return
        event.stop()
        event.prevent_default()
        self._refresh_subtitle()

    def _search(self, text: str) -> None:
        self._show_match(self._find.search(text, self._rows.top if self._rows else None, self._graph_nodes))

    def _show_match(self, row: Row | None) -> None:
        if row is not None:
            self._go_to(self._reveal(row))

    def _go_to(self, tree_node: TreeNode[Data]) -> None:
        # Tree numbers its lines lazily: a node just made has none until it does.
        self._tree_lines  # noqa: B018 (the property rebuilds the line numbers)
        self.move_cursor(tree_node)
        # Opening lines can make the tree wider, and the horizontal scrollbar that then
        # appears would cover the cursor's line: scroll to it again once laid out.
        self.call_after_refresh(self.scroll_to_node, tree_node, animate=False)

    # ------------------------------------------------------------------ the path to the cursor

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Data]) -> None:
        self._refresh_subtitle()

    def on_focus(self) -> None:
        self._refresh_subtitle()

    def on_blur(self) -> None:
        self._find.end()
        self._refresh_subtitle()

    def path_to_cursor(self) -> tuple[list[str], list[int]]:
        """The names from the root down to the selected line (module lines as they read),
        and the places of the module lines among them."""
        node = self.cursor_node
        if node is None or node.data is None:
            return [], []
        names, groups = graph_rows.path(node.data, self._graph_nodes)
        return [plain(self.root.label), *names], [g + 1 for g in groups]

    def _refresh_subtitle(self) -> None:
        subtitle = self._subtitle()
        if subtitle != self.border_subtitle:  # setting it lays the panel out again
            self.border_subtitle = subtitle

    def _subtitle(self) -> str:
        if self._find.text is not None:
            return self._find.subtitle()
        if self.has_focus:
            return graph_rows.fit_path(*self.path_to_cursor(), width=max(10, self.size.width - 6))
        return ""


def _visible(tree_node: TreeNode[Data]) -> bool:
    parent = tree_node.parent
    while parent is not None:
        if not parent.is_expanded:
            return False
        parent = parent.parent
    return True
