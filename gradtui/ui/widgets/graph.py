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
graph without modules opens fully when small, one level at a time when large; tree nodes
are only made when their parent opens, so thousands of nodes stay responsive. ``+`` opens everything, ``-`` goes
back to the outline, ``/`` finds a node, a leaf or a module by name (typing jumps to the
first match, opening the modules on the way; Enter to the next, Escape ends); with the
panel focused its lower border shows the path from the root to the selected line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from gradtui.model import graph_rows, history, sentences
from gradtui.model.events import BackwardDone, OpCalled
from gradtui.model.graph import GraphNode, parent_counts, reachable
from gradtui.model.graph_rows import Row
from gradtui.ui.view import View

#: Graphs without modules of up to this many lines open fully; larger ones open one
#: level at a time.
EXPAND_ALL_LIMIT = 150

Data = Row | None


class GraphView(Tree[Data]):
    """The autograd graph of the tensor in focus; Enter or Space opens and closes a line."""

    BINDINGS = [
        Binding("plus", "expand_all", "open all", show=False),
        Binding("minus", "collapse_all", "close all", show=False),
        Binding("slash", "find", "find", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__("graph", **kwargs)  # type: ignore[arg-type]
        #: module path -> its class name, for the group lines (``1 (Flatten)``).
        self._module_classes: dict[str | None, str | None] = {}
        self.show_root = True
        self.guide_depth = 3
        self._key: tuple[object, ...] | None = None
        self._view: View | None = None
        self._graph_nodes: Mapping[int, GraphNode] = {}
        self._shared: dict[int, int] = {}  # node id -> how many parents, for shared nodes
        self._top: Row | None = None
        self._homes: dict[int, Row] = {}  # node id -> its home row
        self._tree_of: dict[int, TreeNode[Data]] = {}  # id(row) -> its tree node, once made
        self._marked: tuple[TreeNode[Data], Text] | None = None
        #: The text being looked for while ``/`` is on (None: not finding).
        self.finding: str | None = None
        self._matches: list[Row] = []
        self._match = -1

    def show(self, view: View) -> None:
        self._view = view
        self._show_graph(view)
        self._mark_running_node(view)

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
        key = (None if event is None else event.seq, root_id)
        if key == self._key and not force:
            return
        self._key = key
        self.clear()
        self._tree_of = {}
        self._homes = {}
        self._top = None
        self._marked = None
        self._graph_nodes = view.graph
        self._module_classes = {}
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
        graph = view.graph
        self._module_classes = {graph[n].module: graph[n].module_class for n in order if graph[n].module_class}
        self._shared = {n: c for n, c in parent_counts(view.graph, root_id).items() if c > 1}
        self._top = graph_rows.lay_out(view.graph, root_id)
        self._homes = graph_rows.homes(self._top)
        self.border_title = f"Graph · {len(order)} node{'s' if len(order) != 1 else ''}"
        self._tree_of[id(self._top)] = self.root
        self.root.expand()
        if any(row.group is not None for row in self._top.children):
            # A module outline: one line per top-level module and per tree of the nodes
            # outside modules, so that the model's structure shows even in a small panel.
            self._fill(self.root)
            self._open_containers()
        elif sum(1 for _ in graph_rows.walk(self._top)) - 1 <= EXPAND_ALL_LIMIT:
            self._open(self.root, stop_at_groups=True)
        else:
            self._fill(self.root)
            first = self.root.children[0]
            self._fill(first)
            first.expand()
        home = self._homes.get(root_id)
        if home is not None and any(row.group is not None for row in home.ancestors()):
            self._reveal(home)  # the tensor in focus was made inside a module: show where
        self._refresh_subtitle()

    def _open_containers(self) -> None:
        """Open the module lines that hold only module lines (``transformer``): the outline."""
        stack = list(self.root.children)
        while stack:
            tree_node = stack.pop()
            row = tree_node.data
            if row is None or row.group is None or not all(c.group is not None for c in row.children):
                continue
            self._fill(tree_node)
            tree_node.expand()
            stack.extend(tree_node.children)

    # ------------------------------------------------------------------ rows to tree nodes

    def _label(self, row: Row) -> Text:
        if row.group is not None:
            count = f" · {row.count} node{'s' if row.count != 1 else ''}"
            cls = self._module_classes.get(row.group)
            kind = (f" ({cls})", "cyan") if cls else ("", "")
            return Text.assemble((row.label, "bold cyan"), kind, (count, "dim"))
        assert row.node is not None
        node_id, home = row.node, row.home
        node = self._graph_nodes[node_id]
        label = Text(node.name, style="bold" if node.children else "")
        if node.variable is not None:
            label.append(" · ")
            label.append(node.variable, style="bold green")
        if row.reference:
            label.stylize("not bold")
            where = f"in {node.module}" if node.module else "at the top"
            return Text.assemble(("→ ", "cyan"), label, (f"  {where}", "dim cyan"))
        if node_id in self._shared:
            uses = self._shared[node_id]
            label.append(f"  shared: used {uses}×" if home else "  shared: see above", style="magenta")
        if home and node.children:
            label.append(f"  ({len(node.children)} input{'s' if len(node.children) != 1 else ''})", style="dim")
        return label

    def _add(self, parent: TreeNode[Data], row: Row) -> TreeNode[Data]:
        if row.children:
            added = parent.add(self._label(row), data=row, allow_expand=True)
        else:
            added = parent.add_leaf(self._label(row), data=row)
        self._tree_of[id(row)] = added
        return added

    def _fill(self, tree_node: TreeNode[Data]) -> None:
        row = self._top if tree_node is self.root else tree_node.data
        if row is None or tree_node.children:
            return
        for child in row.children:
            self._add(tree_node, child)

    def _open(self, top: TreeNode[Data], stop_at_groups: bool) -> None:
        """Open ``top`` and everything below it (down to module groups, which stay closed)."""
        stack = [top]
        while stack:
            tree_node = stack.pop()
            self._fill(tree_node)
            tree_node.expand()
            for child in reversed(tree_node.children):
                row = child.data
                if row is None or not row.children:
                    continue
                if stop_at_groups and row.group is not None:
                    continue
                stack.append(child)

    def _reveal(self, row: Row) -> TreeNode[Data]:
        """Make the tree nodes down to ``row`` and open its ancestors."""
        tree_node = self._tree_of.get(id(row))
        for above in (*row.ancestors(), row):
            made = self._tree_of.get(id(above))
            if made is None:
                assert above.parent is not None  # the top row is the tree's root, made first
                parent = self._tree_of[id(above.parent)]
                self._fill(parent)
                made = self._tree_of[id(above)]
            if above is not row and not made.is_expanded:
                made.expand()
            tree_node = made
        assert tree_node is not None
        return tree_node

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Data]) -> None:
        row = event.node.data
        # Opening a module group opens its own nodes at once: one Enter per module.
        if row is not None and row.group is not None and not event.node.children:
            self._open(event.node, stop_at_groups=True)
        else:
            self._fill(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Data]) -> None:
        row = event.node.data
        # A reference is a link: Enter (or a click) goes to the node where it lives.
        if row is not None and row.reference and row.node in self._homes:
            event.stop()
            self._go_to(self._reveal(self._homes[row.node]))

    # ------------------------------------------------------------------ keys

    def action_expand_all(self) -> None:
        if self._top is not None:
            self._open(self.root, stop_at_groups=False)

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
        lines = {r.group: r for r in graph_rows.walk(self._top) if r.group is not None} if self._top else {}
        shown = (self._tree_of.get(id(lines[path])) for path in reversed(held) if path in lines)
        target = next((n for n in shown if n is not None and _visible(n)), None)
        if target is not None:
            self._go_to(target)
        else:
            self.cursor_line = 0
        self._mark_running_node(self._view)

    def action_find(self) -> None:
        self.finding = ""
        self._matches, self._match = [], -1
        self._refresh_subtitle()

    async def _on_key(self, event: events.Key) -> None:
        if self.finding is None:
            return
        key = event.key
        if key == "escape":
            self.finding = None
        elif key == "enter":
            self._next_match()
        elif key == "backspace":
            self._search(self.finding[:-1])
        elif event.is_printable and event.character is not None:
            self._search(self.finding + event.character)
        else:
            self.finding = None  # any other key ends finding, and does what it always does
            self._refresh_subtitle()
            return
        event.stop()
        event.prevent_default()
        self._refresh_subtitle()

    def _search(self, text: str) -> None:
        self.finding = text
        self._matches = graph_rows.find(self._top, self._graph_nodes, text) if self._top is not None else []
        self._match = -1
        self._next_match()

    def _next_match(self) -> None:
        if not self._matches:
            return
        self._match = (self._match + 1) % len(self._matches)
        self._go_to(self._reveal(self._matches[self._match]))

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
        self.finding = None
        self._refresh_subtitle()

    def path_to_cursor(self) -> tuple[list[str], list[int]]:
        """The names from the root down to the selected line (module lines as they read),
        and the places of the module lines among them."""
        node = self.cursor_node
        if node is None or node.data is None:
            return [], []
        names, groups = graph_rows.path(node.data, self._graph_nodes)
        return [_plain(self.root.label), *names], [g + 1 for g in groups]

    def _refresh_subtitle(self) -> None:
        subtitle = self._subtitle()
        if subtitle != self.border_subtitle:  # setting it lays the panel out again
            self.border_subtitle = subtitle

    def _subtitle(self) -> str:
        if self.finding is not None:
            if not self.finding:
                found = "type a node, leaf or module name"
            elif self._matches:
                found = f"{self._match + 1} of {len(self._matches)} · Enter next"
            else:
                found = "no match"
            return f"find: {self.finding}▏ {found} · Esc done"
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


def _plain(label: object) -> str:
    text = label.plain if isinstance(label, Text) else str(label)
    return text.split("  ")[0]


def _focus_label(view: View, event: BackwardDone | OpCalled) -> Text:
    match event:
        case BackwardDone():
            number = history.backward_number(view.events, event.seq)
            return Text.assemble((event.root or "root", "bold"), f"  (root of backward #{number})")
        case OpCalled():
            return Text.assemble((f"{event.op}({', '.join(event.args)})", "bold"), "  (output of the latest op)")
        case _:
            assert_never(event)
