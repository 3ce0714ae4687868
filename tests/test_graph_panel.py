"""The graph panel on a real model: its module outline, opened all at once, searched.

The model is the corpus's minGPT-like transformer with four layers instead of two, so
its loss's graph has over 200 nodes. What the outline must show comes from torch and the
recording, never from the panel's own earlier output: the modules from the model's own
``named_modules()`` (the model built from the script's classes), each module's count
from the nodes the engine recorded (each node's module checked against torch in
test_graph_modules.py), their order from the order torch ran the backward's nodes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from textual.pilot import Pilot
from textual.widgets.tree import TreeNode

from gradtui.model.events import BackwardDone
from gradtui.model.graph import GraphNode, reachable
from gradtui.ui.app import GradtuiApp
from gradtui.ui.widgets.graph import GraphView
from tests.apptools import live_app, press, started
from tests.conftest import SCRIPTS

TRANSFORMER = SCRIPTS / "real" / "transformer_block.py"
#: Up to Python 3.11 the script's list comprehension (``[Block(...) for _ in range(n_layer)]``)
#: runs in a frame of its own, from 3.12 inline in ``__init__`` (PEP 709): one line event
#: fewer before the first backward, so the event number on screen differs. A baseline each,
#: the other one skipped (a skipped test's baseline is not an unused one).
COMPREHENSIONS = [
    pytest.param("comprehension-frames", marks=pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python < 3.12")),
    pytest.param("inlined-comprehensions", marks=pytest.mark.skipif(sys.version_info < (3, 12), reason="Python 3.12+")),
]


@pytest.fixture
def four_layers(tmp_path: Path) -> Path:
    text = TRANSFORMER.read_text()
    assert "n_layer=2" in text and "range(20)" in text
    script = tmp_path / "transformer_4.py"
    script.write_text(text.replace("n_layer=2", "n_layer=4").replace("range(20)", "range(2)"))
    return script


def _model(n_layer: int) -> torch.nn.Module:
    """The script's GPT, built from its own classes (everything before its training loop)."""
    text = TRANSFORMER.read_text()
    namespace: dict[str, Any] = {}
    exec(compile(text[: text.index("torch.manual_seed(0)")], str(TRANSFORMER), "exec"), namespace)
    model: torch.nn.Module = namespace["GPT"](n_layer=n_layer)
    return model


async def _first_backward(pilot: Pilot[None]) -> BackwardDone:
    app = pilot.app
    assert isinstance(app, GradtuiApp)
    await started(pilot)
    while not isinstance(app.timeline.events[app.cursor], BackwardDone):
        await press(pilot, "e")
    event = app.timeline.events[app.cursor]
    assert isinstance(event, BackwardDone)
    return event


def _shown(node: TreeNode[Any]) -> list[TreeNode[Any]]:
    """Tree nodes on screen: below expanded nodes only."""
    out = [node]
    if node.is_expanded:
        for child in node.children:
            out.extend(_shown(child))
    return out


def _text(node: TreeNode[Any]) -> str:
    return str(getattr(node.label, "plain", node.label))


def _depth(node: TreeNode[Any]) -> int:
    depth, parent = 0, node.parent
    while parent is not None:
        depth, parent = depth + 1, parent.parent
    return depth


def _within(node: GraphNode, path: str) -> bool:
    module = node.module or ""
    return module == path or module.startswith(path + ".")


async def test_a_200_node_graph_opens_as_its_module_outline(four_layers: Path) -> None:
    model = _model(n_layer=4)
    app = live_app(four_layers)
    async with app.run_test(size=(160, 50)) as pilot:  # wide enough for the whole module path
        bw = await _first_backward(pilot)
        graph = app.timeline.graph
        order = reachable(graph, bw.graph)
        assert len(order) > 200 and sorted(run.id for run in bw.nodes) == sorted(order)
        ran = {run.id: place for place, run in enumerate(bw.nodes)}  # the order torch ran them in

        def count(path: str) -> int:
            return sum(1 for n in order if _within(graph[n], path))

        def first_run(path: str) -> int:
            return min(ran[n] for n in order if _within(graph[n], path))

        classes = {name: type(m).__name__ for name, m in model.named_modules()}

        def line(path: str, label: str, depth: int) -> tuple[int, str]:
            # The module's class, from torch, where the module made nodes of its own.
            own = any(graph[n].module == path for n in order)
            kind = f" ({classes[path]})" if own else ""
            return depth, f"{label}{kind} · {count(path)} nodes"

        # What torch says the model is: GPT(transformer=ModuleDict(wte, wpe, h=ModuleList,
        # ln_f), lm_head). The outline has the model's children in the order the backward
        # reached them; transformer, a container that ran nothing itself, open, holding its
        # children with the ModuleList h's items in its place (h.3 … h.0).
        children = dict(model.named_children())
        assert list(children) == ["transformer", "lm_head"]
        inner = dict(children["transformer"].named_children())  # type: ignore[operator]
        assert isinstance(inner["h"], torch.nn.ModuleList) and len(inner["h"]) == 4
        items = [name for name in inner if name != "h"] + [f"h.{i}" for i in range(len(inner["h"]))]
        expected = []
        for top in sorted(children, key=first_run):
            expected.append(line(top, top, 1))
            if top == "transformer":
                items.sort(key=lambda it: first_run(f"transformer.{it}"))
                expected += [line(f"transformer.{it}", it, 2) for it in items]
        tree = app.query_one(GraphView)
        assert tree.border_title == f"Graph · {len(order)} nodes"
        shown = _shown(tree.root)
        modules = [(_depth(n), _text(n)) for n in shown if n.data is not None and n.data.group is not None]
        assert modules == expected
        assert [_text(n) for n in shown[:3]] == [
            "loss  (root of backward #1)", "NllLossBackward0 → loss  (1 input)",
            f"lm_head (Linear) · {count('lm_head')} nodes",
        ]
        # The other top lines are the closed trees of the nodes made outside every module.
        outside = [n for n in order if not graph[n].module]
        tops = [n.data.node for n in tree.root.children if n.data is not None and n.data.node is not None]
        assert set(tops) <= set(outside) and bw.graph in tops
        assert not any(n.is_expanded for n in tree.root.children if n.data is not None and n.data.node is not None)
        assert sum(count(c) for c in children) + len(outside) == len(order)

        tree.focus()
        await pilot.press("plus")
        await pilot.pause()
        everything = _shown(tree.root)
        homes = [n.data.node for n in everything if n.data is not None and n.data.node is not None and n.data.home]
        assert sorted(homes) == sorted(order)  # every node once, at home
        groups = {n.data.group for n in everything if n.data is not None and n.data.group is not None}
        # Every module that made a node, but ModuleLists, which only number their items.
        assert groups == {name for name, m in model.named_modules()
                          if name and count(name) and not isinstance(m, torch.nn.ModuleList)}
        # A node drawn inside a module is made there; its inputs made elsewhere are references.
        for n in everything:
            row = n.data
            if row is not None and row.node is not None and not row.reference:
                enclosing = next((a.group for a in reversed(row.ancestors()) if a.group is not None), "")
                assert (graph[row.node].module or "") == enclosing

        await pilot.press("minus")
        await pilot.pause()
        assert [_text(n) for n in _shown(tree.root)] == [_text(n) for n in shown]

        # Find a node: every name containing the text, in the outline's order, Enter cycles;
        # after the loss's own log_softmax the first softmax is the one torch ran first.
        softmaxes = [n for n in order if "softmaxbackward0" in graph[n].name.casefold()]
        assert len(softmaxes) == 4 + 1  # one softmax per layer, and the loss's log_softmax
        await pilot.press("slash", *"SoftmaxBackward0")
        await pilot.pause()
        assert tree.border_subtitle.startswith("find: SoftmaxBackward0▏ 1 of 5")
        assert tree.cursor_node is not None and _text(tree.cursor_node).startswith("LogSoftmaxBackward0")
        await pilot.press("enter")
        await pilot.pause()
        assert "2 of 5" in tree.border_subtitle
        cursor = tree.cursor_node
        assert cursor is not None and cursor.data is not None
        first_softmax = min((n for n in softmaxes if graph[n].name == "SoftmaxBackward0"), key=ran.__getitem__)
        assert cursor.data.node == first_softmax and _text(cursor).startswith("SoftmaxBackward0")
        await pilot.press("escape")
        await pilot.pause()
        # The path from the root to the cursor: the module lines, then the nodes in its module.
        module = graph[first_softmax].module
        assert module is not None and module.startswith("transformer.h.") and module.endswith(".attn")
        block = module.split(".")[2]
        assert tree.border_subtitle.startswith(f"loss ▸ transformer ▸ h.{block} ▸ attn ▸ ")
        assert tree.border_subtitle.endswith(" ▸ SoftmaxBackward0")
        assert app.cursor == bw.seq  # finding typed nothing into the debugger's own keys

        # Find a parameter by its name, inside a closed module: lm_head's weight.
        leaf = next(graph[n] for n in order if graph[n].variable == "model.lm_head.weight")
        assert leaf.variable is not None
        await pilot.press("minus", "slash", *leaf.variable, "escape")
        await pilot.pause()
        cursor = tree.cursor_node
        assert cursor is not None and cursor.data is not None and cursor.data.node == leaf.id
        assert tree.border_subtitle.split(" ▸ ")[:2] == ["loss", "lm_head"]

        # A reference is a link: Enter on it goes to the node in its own module.
        await pilot.press("plus")
        await pilot.pause()
        nll = tree.root.children[0]
        assert nll.data is not None and nll.data.node == bw.graph
        ref = next(n for n in _shown(nll) if n.data is not None and n.data.reference)
        assert ref.data is not None and ref.data.node is not None
        target = ref.data.node
        assert graph[target].module == "lm_head"  # the loss's input comes from the head
        tree.move_cursor(ref)
        await pilot.press("enter")
        await pilot.pause()
        cursor = tree.cursor_node
        assert cursor is not None and cursor.data is not None
        assert cursor.data.node == target and cursor.data.home and not cursor.data.reference


# These two screens also show the mean of model.transformer.wte.weight.grad, which is zero
# but for rounding (every path from the embedding to the loss passes through a LayerNorm):
# its digits are the float32 rounding of this CPU's kernels (the baselines were made on an
# AMD EPYC with AVX-512) and may differ on another CPU; everything else on them does not.
@pytest.mark.parametrize("python", COMPREHENSIONS)
def test_snapshot_of_the_grouped_graph(snap_compare, python: str) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _first_backward(pilot)
        app = pilot.app
        app.query_one(GraphView).focus()
        await pilot.press(*["down"] * 5, "enter")  # open h.1, the first block backward meets
        await pilot.pause()

    assert snap_compare(live_app(TRANSFORMER), run_before=run_before, terminal_size=(120, 40))


@pytest.mark.parametrize("python", COMPREHENSIONS)
def test_snapshot_of_the_outline_at_80x24(snap_compare, python: str) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _first_backward(pilot)
        pilot.app.query_one(GraphView).focus()
        await pilot.pause()

    assert snap_compare(live_app(TRANSFORMER), run_before=run_before, terminal_size=(80, 24))

