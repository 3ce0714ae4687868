"""How each line of the graph panel reads: a node, a module line, a reference, the root.

Kept apart from the panel (``gradtui.ui.widgets.graph``), which decides which lines exist
and when they open: here a row of ``gradtui.model.graph_rows`` becomes styled text and
nothing else. Must not import Textual: a label is built from model values, so a test can
build one from a literal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from rich.text import Text

from gradtui.model import history
from gradtui.model.events import BackwardDone, GradComputed, OpCalled
from gradtui.model.graph import GraphNode
from gradtui.model.graph_rows import Row
from gradtui.ui.view import View


def row_label(row: Row, nodes: Mapping[int, GraphNode], shared: Mapping[int, int],
              module_classes: Mapping[str | None, str | None], names: Mapping[int, str] | None = None) -> Text:
    """``row``'s line: ``shared`` holds how many parents a shared node has, ``module_classes`` each
    module's class (``1 (Flatten)``), ``names`` the variables a node's tensor is bound to (``→ y``)."""
    if row.group is not None:
        count = f" · {row.count} node{'s' if row.count != 1 else ''}"
        cls = module_classes.get(row.group)
        kind = (f" ({cls})", "cyan") if cls else ("", "")
        return Text.assemble((row.label, "bold cyan"), kind, (count, "dim"))
    assert row.node is not None
    node_id, home = row.node, row.home
    node = nodes[node_id]
    label = Text(node.name, style="bold" if node.children else "")
    if node.variable is not None:
        label.append(" · ")
        label.append(node.variable, style="bold green")
    elif names and node_id in names:
        label.append(" → ")
        label.append(names[node_id], style="bold green")
    if row.reference:
        label.stylize("not bold")
        where = f"in {node.module}" if node.module else "at the top"
        return Text.assemble(("→ ", "cyan"), label, (f"  {where}", "dim cyan"))
    if node_id in shared:
        uses = shared[node_id]
        label.append(f"  shared: used {uses}×" if home else "  shared: see above", style="magenta")
    if home and node.children:
        label.append(f"  ({len(node.children)} input{'s' if len(node.children) != 1 else ''})", style="dim")
    return label


def focus_label(view: View, event: BackwardDone | GradComputed | OpCalled) -> Text:
    """The root line: the tensor in focus, and why it is."""
    match event:
        case BackwardDone():
            number = history.backward_number(view.events, event.seq)
            return Text.assemble((event.root or "root", "bold"), f"  (root of backward #{number})")
        case GradComputed():
            return Text.assemble((", ".join(event.outputs) or "outputs", "bold"),
                                 f"  (differentiated by autograd.grad for {', '.join(event.inputs)})")
        case OpCalled():
            return Text.assemble((f"{event.op}({', '.join(event.args)})", "bold"), "  (output of the latest op)")
        case _:
            assert_never(event)


def plain(label: object) -> str:
    """A line's name, without what follows it (``  (root of backward #1)``)."""
    text = label.plain if isinstance(label, Text) else str(label)
    return text.split("  ")[0]
