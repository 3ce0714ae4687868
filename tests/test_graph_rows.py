"""Laying the graph out in rows grouped by module: pure questions on literal graphs."""

from __future__ import annotations

from gradtui.model.graph import GraphNode, reachable
from gradtui.model.graph_rows import Row, find, homes, lay_out, walk


def _lines(top: Row, nodes: dict[int, GraphNode]) -> list[str]:
    out = []
    for row in walk(top):
        depth = len(row.ancestors())
        text = f"[{row.group} · {row.count}]" if row.group is not None else nodes[row.node].name  # type: ignore[index]
        out.append("  " * depth + text + ("" if row.home else " (see above)"))
    return out


# loss = mse(net(x)) for net = Sequential(Linear, Tanh, Linear), the loss made outside any module.
MLP = {
    0: GraphNode(0, "MseLossBackward0", (1,), None, None),
    1: GraphNode(1, "AddmmBackward0", (2, 3, 4), None, "2"),
    2: GraphNode(2, "AccumulateGrad", (), "net.2.bias", "2"),
    3: GraphNode(3, "TanhBackward0", (5,), None, "1"),
    4: GraphNode(4, "TBackward0", (6,), None, "2"),
    5: GraphNode(5, "AddmmBackward0", (7, 8), None, "0"),
    6: GraphNode(6, "AccumulateGrad", (), "net.2.weight", "2"),
    7: GraphNode(7, "AccumulateGrad", (), "net.0.bias", "0"),
    8: GraphNode(8, "TBackward0", (9,), None, "0"),
    9: GraphNode(9, "AccumulateGrad", (), "net.0.weight", "0"),
}


def test_each_module_region_gets_one_group_row_counting_its_nodes() -> None:
    assert _lines(lay_out(MLP, 0), MLP) == [
        "MseLossBackward0",
        "  [2 · 4]",
        "    AddmmBackward0",
        "      AccumulateGrad",
        "      [1 · 1]",
        "        TanhBackward0",
        "          [0 · 4]",
        "            AddmmBackward0",
        "              AccumulateGrad",
        "              TBackward0",
        "                AccumulateGrad",
        "      TBackward0",
        "        AccumulateGrad",
    ]


def test_nested_modules_nest_and_leaving_a_module_ends_its_count() -> None:
    # The walk goes from block.attn.proj to block.attn (a new group: proj's does not hold
    # it), leaves every module for the model's own op (""), and meets wte again as a
    # "see above" leaf, which opens no group and is not counted twice.
    nodes = {
        0: GraphNode(0, "AddBackward0", (1, 4), None, "block"),
        1: GraphNode(1, "ViewBackward0", (2,), None, "block.attn.proj"),
        2: GraphNode(2, "SoftmaxBackward0", (3,), None, "block.attn"),
        3: GraphNode(3, "MulBackward0", (4,), None, ""),
        4: GraphNode(4, "EmbeddingBackward0", (), None, "wte"),
    }
    top = lay_out(nodes, 0)
    assert _lines(top, nodes) == [
        "AddBackward0",
        "  [block.attn.proj · 1]",
        "    ViewBackward0",
        "      [block.attn · 1]",
        "        SoftmaxBackward0",
        "          MulBackward0",
        "            EmbeddingBackward0 (see above)",
        "  [wte · 1]",
        "    EmbeddingBackward0",
    ]
    groups = {row.group: row.count for row in walk(top) if row.group is not None}
    # Every node is at home exactly once, and the counts add up to the nodes in modules.
    assert sorted(homes(top)) == sorted(reachable(nodes, 0))
    assert groups["block.attn.proj"] == 1 and groups["block.attn"] == 1


def test_a_graph_without_modules_has_no_group_rows_and_finds_names() -> None:
    nodes = {0: GraphNode(0, "MulBackward0", (1, 1)), 1: GraphNode(1, "AccumulateGrad", (), "theta")}
    top = lay_out(nodes, 0)
    assert _lines(top, nodes) == ["MulBackward0", "  AccumulateGrad", "  AccumulateGrad (see above)"]
    assert [r.node for r in find(top, nodes, "THETA")] == [1]  # case-insensitive, each node once
    assert [r.group for r in find(lay_out(MLP, 0), MLP, "net.0")] == [None, None]
    assert [MLP[r.node].variable for r in find(lay_out(MLP, 0), MLP, "net.0")] == ["net.0.bias", "net.0.weight"]
    assert [r.group for r in find(lay_out(MLP, 0), MLP, "1")] == ["1"]
    assert find(top, nodes, "") == []
