"""Each recorded autograd node knows the module whose forward made it.

The expected paths come from the models themselves (``named_modules()`` and each
module's own parameters, computed by running the script with plain Python), never from
what gradtui recorded before.
"""

from __future__ import annotations

import runpy
import textwrap
from collections import Counter
from pathlib import Path

import torch

from gradtui.model import codec
from gradtui.model.events import BackwardDone
from gradtui.model.graph import GraphNode, reachable
from gradtui.model.timeline import Timeline
from tests.conftest import SCRIPTS

TRANSFORMER = SCRIPTS / "real" / "transformer_block.py"


def _first_backward_nodes(tl) -> list[GraphNode]:  # type: ignore[no-untyped-def]
    bw = next(e for e in tl.events if isinstance(e, BackwardDone))
    return [tl.graph[i] for i in reachable(tl.graph, bw.graph)]


def test_transformer_nodes_carry_the_module_paths_of_named_modules(run_script, capsys) -> None:
    model = runpy.run_path(str(TRANSFORMER), run_name="__main__")["model"]
    capsys.readouterr()
    containers = (torch.nn.ModuleDict, torch.nn.ModuleList)
    computing = {name for name, m in model.named_modules() if name and not isinstance(m, containers)}
    own_params = {name: len(list(m.parameters(recurse=False))) for name, m in model.named_modules()}

    nodes = _first_backward_nodes(run_script(TRANSFORMER))
    modules = Counter(n.module for n in nodes)
    # Every module that computes something made nodes; containers (no forward) made none;
    # the loss and the embeddings' sum are computed in GPT.forward itself ("").
    assert set(modules) == computing | {""}
    # A parameter's AccumulateGrad sits in the module that owns it.
    leaves = Counter(n.module for n in nodes if n.name == "AccumulateGrad")
    assert leaves == {name: count for name, count in own_params.items() if count}
    assert {n.module for n in nodes if n.name == "SoftmaxBackward0"} == {"transformer.h.0.attn", "transformer.h.1.attn"}
    assert {n.module for n in nodes if n.name == "NllLossBackward0"} == {""}
    assert {n.module for n in nodes if n.name == "EmbeddingBackward0"} == {"transformer.wte", "transformer.wpe"}
    # Each node names its module's class, as torch's model has it.
    classes = {name: type(m).__name__ for name, m in model.named_modules()}
    assert all(n.module_class == classes[n.module] for n in nodes if n.module is not None)
    assert {n.module_class for n in nodes if n.name == "SoftmaxBackward0"} == {"CausalSelfAttention"}


def test_sequential_paths_a_loss_outside_modules_and_a_module_added_later(run_script, tmp_path: Path) -> None:
    script = tmp_path / "late.py"
    script.write_text(textwrap.dedent("""
        import torch
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh())
        x = torch.randn(5, 3)
        loss = (net(x) ** 2).sum()
        loss.backward()
        net.append(torch.nn.Linear(4, 1))  # registered after the paths were first looked up
        loss = net(x).sum()
        loss.backward()

        class Scaled(torch.nn.Module):
            def forward(self, x):
                return torch.nn.Softplus()(x) * 2  # a module made and called inside forward
        loss = Scaled()(x.requires_grad_()).sum()
        loss.backward()
    """))
    tl = run_script(script)
    backwards = [e for e in tl.events if isinstance(e, BackwardDone)]
    assert len(backwards) == 3

    def modules_of(bw: BackwardDone) -> dict[str, str | None]:
        return {tl.graph[i].name: tl.graph[i].module for i in reachable(tl.graph, bw.graph)
                if tl.graph[i].name != "AccumulateGrad"}

    first = modules_of(backwards[0])
    assert first["SumBackward0"] is None and first["PowBackward0"] is None  # the script's own ops
    assert first["TanhBackward0"] == "1" and first["AddmmBackward0"] == "0"
    second = {tl.graph[i].module for i in reachable(tl.graph, backwards[1].graph)}
    assert second == {None, "0", "1", "2"}
    third = modules_of(backwards[2])
    # Softplus is not part of Scaled: its node takes the enclosing registered module's path.
    assert third["SoftplusBackward0"] == "" and third["MulBackward0"] == ""


def test_module_paths_round_trip_and_older_files_load_without_them(tmp_path: Path) -> None:
    graph = {0: GraphNode(0, "AddmmBackward0", (1,), None, "transformer.h.0.attn.c_attn", "Linear"),
             1: GraphNode(1, "AccumulateGrad", (), "w", "transformer.h.0.attn.c_attn"),
             2: GraphNode(2, "SumBackward0", (0,), None, None),
             3: GraphNode(3, "NllLossBackward0", (2,), None, "")}
    tl = Timeline(script="s.py", argv=["s.py"], graph=graph)
    path = tmp_path / "t.json"
    codec.save(tl, path)
    assert codec.load(path).graph == graph

    doc = codec.timeline_to_json(tl)
    for node in doc["graph"]:
        del node["module"]  # a file written before modules were recorded
        node.pop("module_class", None)
    older = codec.timeline_from_json(doc)
    assert [n.module for n in older.graph.values()] == [None, None, None, None]
    assert [n.variable for n in older.graph.values()] == [None, "w", None, None]
