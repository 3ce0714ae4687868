"""Laying the graph out in rows, as a module outline when nodes know their module: pure
questions on literal graphs, each written down from the model it stands for."""

from __future__ import annotations

from dataclasses import replace

from gradtui.model.graph import GraphNode, reachable
from gradtui.model.graph_rows import Row, find, fit_path, homes, lay_out, path, walk
from gradtui.model.module_tree import backward_order


def _lines(top: Row, nodes: dict[int, GraphNode]) -> list[str]:
    out = []
    for row in walk(top):
        if row is top:
            continue
        depth = len(row.ancestors()) - 1
        if row.group is not None:
            text = f"[{row.label} · {row.count}]"
        else:
            node = nodes[row.node]  # type: ignore[index]
            text = node.name + (f" · {node.variable}" if node.variable else "")
            if row.reference:
                text = f"→ {text} in {node.module or '(top)'}"
            elif not row.home:
                text += " (see above)"
        out.append("  " * depth + text)
    return out


def _check_counts(top: Row, nodes: dict[int, GraphNode], root: int) -> None:
    """Every node is at home exactly once, and a module line counts the nodes made in it
    or below it, as the nodes' own module paths say."""
    order = reachable(nodes, root)
    at_home = [row.node for row in walk(top) if row.node is not None and row.home]
    assert sorted(at_home) == sorted(order)
    for row in walk(top):
        if row.group is not None:
            path = row.group
            made = [n for n in order if f"{nodes[n].module or ''}.".startswith(path + ".")]
            assert row.count == len(made), path


# loss = mse(model(x)) for model.forward(x) = fc2(relu(fc1(x))): the loss made outside any
# module, the relu in the model's own forward (""), each Linear an addmm of its bias, its
# input and its transposed weight.
NET = {
    0: GraphNode(0, "MseLossBackward0", (1,), None, None),
    1: GraphNode(1, "AddmmBackward0", (2, 3, 4), None, "fc2"),
    2: GraphNode(2, "AccumulateGrad", (), "model.fc2.bias", "fc2"),
    3: GraphNode(3, "ReluBackward0", (5,), None, ""),
    4: GraphNode(4, "TBackward0", (6,), None, "fc2"),
    5: GraphNode(5, "AddmmBackward0", (7, 8), None, "fc1"),
    6: GraphNode(6, "AccumulateGrad", (), "model.fc2.weight", "fc2"),
    7: GraphNode(7, "AccumulateGrad", (), "model.fc1.bias", "fc1"),
    8: GraphNode(8, "TBackward0", (9,), None, "fc1"),
    9: GraphNode(9, "AccumulateGrad", (), "model.fc1.weight", "fc1"),
}


def test_a_two_module_model_lays_out_as_one_line_per_module_and_its_own_nodes() -> None:
    top = lay_out(NET, 0)
    # The relu sits between the two modules at the top, where the backward meets it.
    assert _lines(top, NET) == [
        "MseLossBackward0",
        "  → AddmmBackward0 in fc2",
        "[fc2 · 4]",
        "  AddmmBackward0",
        "    AccumulateGrad · model.fc2.bias",
        "    → ReluBackward0 in (top)",
        "    TBackward0",
        "      AccumulateGrad · model.fc2.weight",
        "ReluBackward0",
        "  → AddmmBackward0 in fc1",
        "[fc1 · 4]",
        "  AddmmBackward0",
        "    AccumulateGrad · model.fc1.bias",
        "    TBackward0",
        "      AccumulateGrad · model.fc1.weight",
    ]
    _check_counts(top, NET, 0)


# Two blocks of x = x + attn(x) over an embedding: h.1 feeds gradient to h.0 twice, through
# its residual and through its attention; a ModuleList h made no node of its own.
BLOCKS = {
    0: GraphNode(0, "NllLossBackward0", (1,), None, ""),
    1: GraphNode(1, "AddBackward0", (2, 3), None, "h.1"),
    2: GraphNode(2, "AddBackward0", (4, 5), None, "h.0"),
    3: GraphNode(3, "SoftmaxBackward0", (2,), None, "h.1.attn"),
    4: GraphNode(4, "EmbeddingBackward0", (6,), None, "wte"),
    5: GraphNode(5, "SoftmaxBackward0", (4,), None, "h.0.attn"),
    6: GraphNode(6, "AccumulateGrad", (), "model.wte.weight", "wte"),
}


def test_backward_order_puts_a_node_after_everything_that_feeds_it() -> None:
    # Depth-first from the loss would reach h.0 (2) through h.1's residual before h.1's
    # attention (3); the backward cannot run h.0 before the attention has sent its part.
    assert reachable(BLOCKS, 0) == [0, 1, 2, 4, 6, 5, 3]
    assert backward_order(BLOCKS, 0) == [0, 1, 3, 2, 5, 4, 6]
    # x = wte(idx) + wpe(pos): of two inputs ready together torch runs the one made later
    # (wpe's, as recorded from tests/scripts/real/transformer_block.py), a leaf at once.
    embeddings = {
        4: GraphNode(4, "AddBackward0", (0, 2), None, ""),
        0: GraphNode(0, "EmbeddingBackward0", (1,), None, "wte"),
        1: GraphNode(1, "AccumulateGrad", (), "wte.weight", "wte"),
        2: GraphNode(2, "EmbeddingBackward0", (3,), None, "wpe"),
        3: GraphNode(3, "AccumulateGrad", (), "wpe.weight", "wpe"),
    }
    assert backward_order(embeddings, 4) == [4, 2, 3, 0, 1]


def test_nested_modules_nest_numbered_items_fold_into_their_container_and_inputs_elsewhere_are_references() -> None:
    top = lay_out(BLOCKS, 0)
    assert _lines(top, BLOCKS) == [
        "NllLossBackward0",
        "  → AddBackward0 in h.1",
        "[h.1 · 2]",
        "  AddBackward0",
        "    → AddBackward0 in h.0",
        "    → SoftmaxBackward0 in h.1.attn",
        "  [attn · 1]",
        "    SoftmaxBackward0",
        "      → AddBackward0 in h.0",
        "[h.0 · 2]",
        "  AddBackward0",
        "    → EmbeddingBackward0 in wte",
        "    → SoftmaxBackward0 in h.0.attn",
        "  [attn · 1]",
        "    SoftmaxBackward0",
        "      → EmbeddingBackward0 in wte",
        "[wte · 2]",
        "  EmbeddingBackward0",
        "    AccumulateGrad · model.wte.weight",
    ]
    assert [row.group for row in walk(top) if row.group is not None] == ["h.1", "h.1.attn", "h.0", "h.0.attn", "wte"]
    _check_counts(top, BLOCKS, 0)
    # Finding a module matches its whole path; a node is found at its home, not at references.
    assert [row.group for row in find(top, BLOCKS, "h.0.att")] == ["h.0.attn"]
    assert [(row.node, row.home) for row in find(top, BLOCKS, "addbackward")] == [(1, True), (2, True)]
    assert [row.node for row in find(top, BLOCKS, "wte.weight")] == [6]
    # The path to a node: its module lines as they read, then the nodes inside its module.
    softmax = homes(top)[5]
    assert path(softmax, BLOCKS) == (["h.0", "attn", "SoftmaxBackward0"], [0, 1])


def test_a_path_too_long_for_the_border_keeps_the_innermost_modules_first() -> None:
    names = ["loss", "transformer", "h.3", "attn", "ViewBackward0", "CloneBackward0", "SoftmaxBackward0"]
    assert fit_path(names, [1, 2, 3], width=200) == " ▸ ".join(names)
    shorter = "loss ▸ transformer ▸ h.3 ▸ attn ▸ … ▸ CloneBackward0 ▸ SoftmaxBackward0"
    assert fit_path(names, [1, 2, 3], width=len(shorter)) == shorter
    assert fit_path(names, [1, 2, 3], width=52) == "loss ▸ … ▸ h.3 ▸ attn ▸ … ▸ SoftmaxBackward0"
    assert fit_path(names, [1, 2, 3], width=20) == "loss ▸ … ▸ SoftmaxBackward0"


def test_a_tied_weight_lives_where_it_was_first_used_and_a_shared_node_is_drawn_once() -> None:
    # logits = lm_head(x) with lm_head.weight tied to wte.weight (first used by wte), and
    # in block (a single submodule of encoder, which made nothing: one line) h = t * t.
    nodes = {
        0: GraphNode(0, "MmBackward0", (1, 2), None, "lm_head"),
        1: GraphNode(1, "MulBackward0", (3, 3), None, "encoder.block"),
        2: GraphNode(2, "TBackward0", (4,), None, "lm_head"),
        3: GraphNode(3, "EmbeddingBackward0", (4,), None, "wte"),
        4: GraphNode(4, "AccumulateGrad", (), "model.wte.weight", "wte"),
    }
    top = lay_out(nodes, 0)
    assert _lines(top, nodes) == [
        "[lm_head · 2]",
        "  MmBackward0",
        "    → MulBackward0 in encoder.block",
        "    TBackward0",
        "      → AccumulateGrad · model.wte.weight in wte",
        "[encoder.block · 1]",
        "  MulBackward0",
        "    → EmbeddingBackward0 in wte",
        "    → EmbeddingBackward0 in wte",
        "[wte · 2]",
        "  EmbeddingBackward0",
        "    AccumulateGrad · model.wte.weight",
    ]
    _check_counts(top, nodes, 0)
    # Inside one module a node used twice keeps its "see above".
    twice = {0: GraphNode(0, "MulBackward0", (1, 1), None, "m"), 1: GraphNode(1, "AccumulateGrad", (), "m.w", "m")}
    assert _lines(lay_out(twice, 0), twice) == [
        "[m · 2]", "  MulBackward0", "    AccumulateGrad · m.w", "    AccumulateGrad · m.w (see above)",
    ]


def test_a_graph_without_modules_lays_out_as_one_tree_from_the_root() -> None:
    plain = {n: replace(node, module=None) for n, node in NET.items()}
    expected = [
        "MseLossBackward0",
        "  AddmmBackward0",
        "    AccumulateGrad · model.fc2.bias",
        "    ReluBackward0",
        "      AddmmBackward0",
        "        AccumulateGrad · model.fc1.bias",
        "        TBackward0",
        "          AccumulateGrad · model.fc1.weight",
        "    TBackward0",
        "      AccumulateGrad · model.fc2.weight",
    ]
    assert _lines(lay_out(plain, 0), plain) == expected
    # Everything in the model's own forward is no module information either.
    own = {n: replace(node, module="") for n, node in NET.items()}
    assert _lines(lay_out(own, 0), own) == expected

    nodes = {0: GraphNode(0, "MulBackward0", (1, 1)), 1: GraphNode(1, "AccumulateGrad", (), "theta")}
    top = lay_out(nodes, 0)
    assert _lines(top, nodes) == ["MulBackward0", "  AccumulateGrad · theta", "  AccumulateGrad · theta (see above)"]
    assert [r.node for r in find(top, nodes, "THETA")] == [1]  # case-insensitive, each node once
    assert find(top, nodes, "") == []
    assert homes(top) == {0: top.children[0], 1: top.children[0].children[0]}
