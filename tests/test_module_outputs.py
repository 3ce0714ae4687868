"""Activations named after the module that returned them: ``net.0 output``, ``lstm output[1][0]``.

The expected names are built from the module structure torch reports (``named_modules()``
and torch's own per-module forward hooks, in call order) and the expected values from
the same model run directly by torch, never from an earlier gradtui run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as module_hooks

from gradtui.engine.module_outputs import ModuleOutputs
from tests.helpers import flat, of_kind

SEQUENTIAL = """\
import torch
from torch import nn
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
x = torch.randn(3, 4)
out = net(x)
loss = out.pow(2).mean()
total = net(x).sum()
"""


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text(source)
    return path


def _calls(model: nn.Module, *inputs: Any) -> tuple[Any, list[tuple[str, int, Any]]]:
    """Run ``model`` with torch's own per-module hooks: (path, call number, output) in call order."""
    seen: list[tuple[str, int, Any]] = []
    counts: dict[str, int] = {}
    handles = []
    for name, sub in model.named_modules():
        def hook(_m: nn.Module, _i: Any, o: Any, name: str = name) -> None:
            counts[name] = counts.get(name, 0) + 1
            seen.append((name, counts[name], o))
        handles.append(sub.register_forward_hook(hook))
    try:
        out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return out, seen


def _expected_name(var: str, path: str, n: int) -> str:
    base = f"{var}.{path}" if path else var
    return f"{base} output" if n == 1 else f"{base} output#{n}"


def _value(t: torch.Tensor) -> list[Any]:
    return t.detach().flatten().tolist() if t.dim() else [t.item()]


def test_sequential_layers_pass_on_their_module_names(run_script, tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(3, 4)
    direct, calls = _calls(net, x)
    layers = [(path, out) for path, _, out in calls if path]  # the model itself is bound to ``out``
    assert [path for path, _ in layers] == [name for name, _ in net.named_children()]

    tl = run_script(_write(tmp_path, SEQUENTIAL))
    assert tl.status == "finished", tl.error
    ops = [e for e in of_kind(tl, "op") if e.line == 6]
    assert [e.op for e in ops] == ["linear", "tanh", "linear"]
    assert ops[0].args == ("x", "net.0.weight", "net.0.bias")
    for op, (_, value) in zip(ops, layers, strict=True):
        assert flat(op.output) == _value(value)  # each op's output is that layer's, as torch gives it
    for consumer, (path, _) in zip(ops[1:], layers, strict=False):
        assert consumer.args[0] == f"net.{path} output"
    # The script's own variable wins for the model's output; unbound, it is the model's.
    (pow_op,) = [e for e in of_kind(tl, "op") if e.op == "pow"]
    assert pow_op.args[0] == "out" and flat(pow_op.output) == _value(direct.pow(2))
    (sum_op,) = [e for e in of_kind(tl, "op") if e.op == "sum"]
    assert sum_op.args == ("net output",)
    assert not [a for e in of_kind(tl, "op") for a in e.args if a.startswith("tensor#") and e.line == 6]


TWICE = """\
import torch
from torch import nn

class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        h = self.lin(x)
        return self.lin(torch.tanh(self.lin(h))) * 2

torch.manual_seed(0)
model = Twice()
x = torch.randn(2, 3)
for step in range(2):
    y = model(x)
"""


def test_a_module_called_twice_numbers_its_outputs_per_forward(run_script, tmp_path):
    ns: dict[str, Any] = {}
    exec(TWICE.replace("for step in range(2):\n    y = model(x)\n", ""), ns)
    direct, calls = _calls(ns["model"], ns["x"])
    lin_calls = [(n, out) for path, n, out in calls if path == "lin"]
    assert [n for n, _ in lin_calls] == [1, 2, 3]

    tl = run_script(_write(tmp_path, TWICE))
    assert tl.status == "finished", tl.error
    for step in range(2):  # every forward counts its calls afresh
        ops = [e for e in of_kind(tl, "op") if e.line in (10, 11)][step * 5:(step + 1) * 5]
        assert [e.op for e in ops] == ["linear", "linear", "tanh", "linear", "mul"]
        # ``h`` is the script's own variable: it wins over ``model.lin output``.
        assert ops[1].args[0] == "h"
        assert ops[2].args == (_expected_name("model", "lin", 2),)
        assert ops[4].args == (_expected_name("model", "lin", 3), "2")
        assert [flat(ops[i].output) for i in (0, 1, 3)] == [_value(out) for _, out in lin_calls]
        assert flat(ops[4].output) == _value(direct)


LSTM = """\
import torch
from torch import nn
torch.manual_seed(0)
lstm = nn.LSTM(3, 4)
x = torch.randn(5, 1, 3)
result = lstm(x)
a = result[0].sum()
b = result[1][0].sum()
c = result[1][1].sum()
"""


def test_tuple_outputs_are_named_by_position(run_script, tmp_path):
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4)
    x = torch.randn(5, 1, 3)
    out, (h, c) = lstm(x)
    tl = run_script(_write(tmp_path, LSTM))
    assert tl.status == "finished", tl.error
    sums = [e for e in of_kind(tl, "op") if e.op == "sum"]
    assert [e.args for e in sums] == [("lstm output[0]",), ("lstm output[1][0]",), ("lstm output[1][1]",)]
    assert [flat(e.output) for e in sums] == [[t.sum().item()] for t in (out, h, c)]


def test_the_hooks_follow_only_the_installing_thread_and_are_removed():
    before = (len(module_hooks._global_forward_hooks), len(module_hooks._global_forward_pre_hooks))
    outputs = ModuleOutputs()
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    outputs.name_module(net, "net", 0)
    for path, sub in net.named_modules():
        if path:
            outputs.name_module(sub, f"net.{path}", 0)
    x = torch.randn(1, 2)
    outputs.install()
    try:
        elsewhere: list[torch.Tensor] = []
        thread = threading.Thread(target=lambda: elsewhere.append(net[0](x)))
        thread.start()
        thread.join()
        assert outputs.name_of(elsewhere[0]) is None
        mine = net[0](x)
        assert outputs.name_of(mine) == "net.0 output"
        assert outputs.name_of(net(x)) == "net output"
    finally:
        outputs.remove()
    assert (len(module_hooks._global_forward_hooks), len(module_hooks._global_forward_pre_hooks)) == before
    assert outputs.name_of(net[0](x)) is None  # removed: nothing more is followed


def test_a_forward_that_raised_does_not_shift_the_next_forwards_numbers():
    class Fails(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("no")

    lin = nn.Linear(2, 2)
    net = nn.Sequential(lin, Fails())
    outputs = ModuleOutputs()
    outputs.name_module(lin, "lin", 0)
    outputs.install()
    try:
        try:
            net(torch.randn(1, 2))
        except ValueError:
            pass
        assert outputs.name_of(lin(torch.randn(1, 2))) == "lin output"
    finally:
        outputs.remove()
