"""Names on real model code: module paths for every parameter on every event, names that
last for a tensor's life, and the expressions that reach unnamed tensors.

The expected names come from torch itself (``named_parameters()`` / ``named_buffers()``
of the same model built directly), never from an earlier gradtui run.
"""

from __future__ import annotations

import functools
import runpy
from pathlib import Path

import pytest
import torch

from gradtui.model.formatting import format_number, summary
from gradtui.model.sentences import describe
from tests.conftest import SCRIPTS
from tests.helpers import of_kind

REAL = SCRIPTS / "real"


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text(source)
    return path


def _names_on_events(tl) -> list[list[str]]:
    out = []
    for e in tl.events:
        if e.kind in ("backward", "zero_grad"):
            out.append(list(e.grads))
        elif e.kind == "step":
            out.append(list(e.params))
    return out


def test_transformer_parameters_and_buffer_named_by_module_path(run_script):
    # The script builds its model with a buffer registered before any parameter exists.
    direct = runpy.run_path(str(REAL / "transformer_block.py"), run_name="not_main")["model"]
    expected = ["model." + name for name, _ in direct.named_parameters()]
    assert len(expected) == 29
    tl = run_script(REAL / "transformer_block.py")
    assert tl.status == "finished"
    events = _names_on_events(tl)
    assert len(events) == 60
    for names in events:
        assert sorted(names) == sorted(expected)
    # Backward and step list them in the model's own order.
    assert list(of_kind(tl, "backward")[0].grads) == expected
    assert list(of_kind(tl, "step")[-1].params) == expected
    # The attention mask is a buffer: ops on it name it by its path too.
    buffers = ["model." + name for name, _ in direct.named_buffers()]
    assert buffers == ["model.transformer.h.0.attn.bias", "model.transformer.h.1.attn.bias"]
    op_args = {a for e in of_kind(tl, "op") for a in e.args}
    assert set(buffers) <= op_args
    # The graph's leaves carry the same names.
    leaves = {n.variable for n in tl.graph.values() if n.variable is not None}
    assert leaves == set(expected)


def test_parameters_made_in_init_from_tensor_ops_get_module_paths(run_script):
    tl = run_script(REAL / "unused_parameter.py")
    expected = {"model.a", "model.b", "model.c", "model.d", "model.e"}
    for event in of_kind(tl, "step"):
        assert set(event.params) == expected
    # e is unused on some iterations: only those backward passes leave it out.
    backward = of_kind(tl, "backward")
    assert [("model.e" in e.grads) for e in backward[:4]] == [False, True, False, True]


def test_a_leftover_loop_variable_never_takes_a_parameters_name(run_script):
    tl = run_script(REAL / "manual_update_loop.py")
    events = _names_on_events(tl)
    assert len(events) == 600
    assert all(names == ["model.0.weight", "model.0.bias"] for names in events)
    # The updates made by the loop name the parameter by its path, and its gradient after it.
    updates = of_kind(tl, "update")
    assert len(updates) == 600
    assert {e.args[0] for e in updates} == {"model.0.weight", "model.0.bias"}
    assert [list(e.params) for e in updates[:2]] == [["model.0.weight"], ["model.0.bias"]]
    muls = [e for e in of_kind(tl, "op") if e.op == "mul" and not e.grad_enabled]
    assert {a for e in muls for a in e.args} >= {"model.0.weight.grad", "model.0.bias.grad"}


def test_grad_and_data_and_self_attributes_are_named_by_expression(run_script, tmp_path):
    script = _write(tmp_path, """
import pytest
import torch

class Fit:
    def __init__(self):
        self.w = torch.tensor([1.0, -2.0], requires_grad=True)

    def run(self):
        self.loss = (self.w * self.w).sum()
        self.loss.backward()

fit = Fit()
fit.run()
with torch.no_grad():
    fit.w.data -= 0.5 * fit.w.grad
w = fit.w
v = w * 3
""")
    tl = run_script(script)
    (backward,) = of_kind(tl, "backward")
    assert backward.root == "self.loss"
    # Reached only as self.w inside the method, the name it keeps.
    assert list(backward.grads) == ["self.w"]
    ops = of_kind(tl, "op")
    assert ops[-1].args == ("w", "3")
    (update,) = of_kind(tl, "update")
    assert update.args[0] == "self.w.data" and list(update.params) == ["self.w"]
    grad_mul = [e for e in ops if e.op == "mul" and not e.grad_enabled]
    assert "self.w.grad" in grad_mul[0].args


def test_a_rebound_variable_names_the_new_tensor_and_lets_go_of_the_old(run_script, tmp_path):
    # The tutorials rebind x to a new leaf each iteration while the old one lives on.
    script = _write(tmp_path, """
import pytest
import torch
x = torch.tensor([1.0], requires_grad=True)
for _ in range(3):
    y = (x - 4) ** 2
    y.backward()
    with torch.no_grad():
        prev_x = x
        x = x - 0.5 * x.grad
        gap = prev_x - x
    x.requires_grad = True
""")
    tl = run_script(script)
    assert [list(e.grads) for e in of_kind(tl, "backward")] == [["x"], ["x"], ["x"]]
    gaps = [e for e in of_kind(tl, "op") if e.op == "sub" and not e.grad_enabled and len(e.args) == 2
            and e.args[1] == "x"]
    assert [e.args[0] for e in gaps] == ["prev_x"] * 3


def _in(where: str, inputs: dict[str, str], body: str, result: str) -> str:
    """A script running ``body`` at its top level (``where="module"``) or inside a function
    whose parameters are ``inputs`` (name -> the expression passed), which returns ``result``."""
    if where == "module":
        return "import torch\n" + "".join(f"{name} = {value}\n" for name, value in inputs.items()) + body + "\n"
    return (f"import torch\ndef run({', '.join(inputs)}):\n    {body}\n    return {result}\n"
            f"run({', '.join(inputs.values())})\n")


_W = "torch.tensor(2.0, requires_grad=True)"


@pytest.mark.parametrize("where", ["module", "function"])
def test_a_loop_on_one_line_names_the_variable_at_every_pass(run_script, tmp_path, where):
    # Each pass rebinds x and reaches the same instruction again: the name is x every time.
    source = _in(where, {"x": "torch.tensor(1.0)", "w": _W}, "for i in range(3): x = x * w", "x")
    tl = run_script(_write(tmp_path, source))
    muls = [e for e in of_kind(tl, "op") if e.op == "mul"]
    assert [e.args for e in muls] == [("x", "w")] * 3
    assert [e.output.values for e in muls] == [2.0, 4.0, 8.0]


@pytest.mark.parametrize("where", ["module", "function"])
def test_a_comprehension_names_its_variable_at_every_pass(run_script, tmp_path, where):
    # Python 3.12+ runs a list comprehension inside the frame that holds it: each pass rebinds x.
    xs = "[torch.tensor(1.0), torch.tensor(3.0), torch.tensor(5.0)]"
    source = _in(where, {"xs": xs, "w": _W}, "ys = [x * w for x in xs]", "ys")
    tl = run_script(_write(tmp_path, source))
    muls = [e for e in of_kind(tl, "op") if e.op == "mul"]
    assert [e.args for e in muls] == [("x", "w")] * 3
    assert [e.output.values for e in muls] == [2.0, 6.0, 10.0]


def test_a_comprehension_at_the_top_level_sees_the_modules_variables(run_script, tmp_path):
    # Python 3.13 shows an inlined comprehension's frame as its own variables alone: the
    # module's variables are still the module's while it runs (its ops and its line events).
    from gradtui.model.scopes import frame_vars
    source = _in("module", {"w": _W, "xs": "[torch.tensor(1.0), torch.tensor(3.0)]"},
                 "ys = [x * w for x in xs]\nz = 1", "")
    tl = run_script(_write(tmp_path, source))
    events = list(tl.events)
    lines = [e.seq for e in events if e.kind == "line" and e.line in (4, 5)]
    assert lines
    for seq in lines:
        # The module's frame: the innermost on 3.12+, the listcomp's caller on 3.11.
        frames = [frame_vars(events, seq, depth) for depth in range(2)]
        (module,) = [f for f in frames if f is not None and f.ref.function == "<module>"]
        assert {"w", "xs"} <= set(module.variables), seq


@pytest.mark.parametrize("where", ["module", "function"])
def test_variables_bound_between_the_ops_of_one_line_name_them(run_script, tmp_path, where):
    # Several statements on one line: each op sees the variables the statements before it bound.
    body = "a = w * 1.0; b = a * w; c = b * w; del a; a = c * w; d = a * w + b * w"
    tl = run_script(_write(tmp_path, _in(where, {"w": _W}, body, "d")))
    ops = [(e.op, e.args, e.output.values) for e in of_kind(tl, "op") if e.op in ("mul", "add")]
    # The same arithmetic, run directly.
    w = torch.tensor(2.0)
    a = w * 1.0
    expected = [a.item()]
    b = a * w
    c = b * w
    a = c * w
    d = a * w + b * w
    expected += [b.item(), c.item(), a.item(), (a * w).item(), (b * w).item(), d.item()]
    assert [o[2] for o in ops] == expected
    # The add's operands are unnamed intermediates: only the ops on named variables are checked by name.
    assert [o[1] for o in ops][:6] == [("w", "1"), ("a", "w"), ("b", "w"), ("c", "w"), ("a", "w"), ("b", "w")]


def test_a_function_parameter_does_not_rename_the_scripts_variable(run_script):
    tl = run_script(SCRIPTS / "sibling_import.py")
    (backward,) = of_kind(tl, "backward")
    assert list(backward.grads) == ["w"]


def test_a_parameter_added_after_the_first_event_gets_its_path(run_script, tmp_path):
    script = _write(tmp_path, """
import pytest
import torch
net = torch.nn.Linear(2, 1)
out = net(torch.ones(1, 2)).sum()
net.extra = torch.nn.Parameter(torch.tensor([2.0]))
loss = (net(torch.ones(1, 2)) * net.extra).sum()
loss.backward()
""")
    tl = run_script(script)
    (backward,) = of_kind(tl, "backward")
    assert sorted(backward.grads) == ["net.bias", "net.extra", "net.weight"]


def test_grad_scaler_root_is_named_by_expression_and_its_loss_unscaled(run_script):
    # The same loop run directly: the losses the script computed, and the scaler's factor.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu")
    data, target = torch.randn(8, 16), torch.randn(8, 4)
    losses, scales, grads = [], [], []
    for _ in range(5):
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(net(data).float(), target)
        scales.append(scaler.get_scale())
        scaler.scale(loss).backward()
        grads.append(net[0].bias.grad.clone())
        losses.append(loss.item())
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()

    tl = run_script(REAL / "grad_scaler.py")
    backward = of_kind(tl, "backward")
    assert [e.root for e in backward] == ["scaler.scale(loss)"] * 5
    assert [e.loss for e in backward] == losses
    assert [e.loss_scale for e in backward] == scales == [65536.0] * 5
    # The gradients are what torch computed: scaled.
    for event, grad in zip(backward, grads):
        assert event.grads["net.0.bias"].after.flat_values() == grad.tolist()
    # --trace says which value is which.
    line = summary(backward[0])
    assert line.startswith(f"backward  loss={format_number(losses[0])} (root scaler.scale(loss) = loss × 65536)")
    # And so does the status line.
    sentence = describe(tl.events, backward[0].seq)
    assert sentence.startswith(f"backward() from scaler.scale(loss) (loss={format_number(losses[0])}, scaled by "
                               "65536 for backward, and so are the gradients): ")


#: Leaves that require grad made inside a function of the script, so not among its globals.
LOCAL_LEAVES = {"gan_gradient_penalty": {"mixed"}}


@functools.cache
def _plain_run(script: Path) -> dict[str, object]:
    """The script's globals once it has run plainly (once per script)."""
    return runpy.run_path(str(script), run_name="__main__")


def _leaf_variables(script: Path) -> set[str]:
    namespace = _plain_run(script)
    return {var for var, value in namespace.items() if isinstance(value, torch.Tensor) and value.is_leaf
            and value.requires_grad}


def _expected_names(script: Path) -> set[str]:
    """Every parameter's name as torch gives it: the script run plainly, its top-level
    modules' ``named_parameters()`` (or, for a script without modules, its leaf variables)."""
    namespace = _plain_run(script)
    modules = {var: m for var, m in namespace.items() if isinstance(m, torch.nn.Module)}
    # A variable holding a part of another (``linear_layer = model[0]``) is not a root.
    roots = {var: m for var, m in modules.items()
             if not any(m is not other and any(m is sub for sub in other.modules()) for other in modules.values())}
    names = {f"{var}.{path}" for var, m in roots.items() for path, _ in m.named_parameters()}
    if names:
        return names
    return {var for var, value in namespace.items() if isinstance(value, torch.Tensor) and value.is_leaf
            and value.requires_grad}


@pytest.mark.parametrize("script", sorted(REAL.glob("*.py")), ids=lambda p: p.stem)
def test_every_real_script_names_every_parameter_by_its_path_on_every_event(run_script, script, capsys):
    expected = _expected_names(script)
    # A leaf the script makes to differentiate against (a gradient penalty's ``mixed``) gets a
    # ``.grad`` from backward too, under its variable's name.
    leaves = _leaf_variables(script) | LOCAL_LEAVES.get(script.stem, set())
    capsys.readouterr()  # what the plain run printed
    tl = run_script(script)
    assert tl.status == "finished"
    seen: set[str] = set()
    for event in tl.events:
        if event.kind in ("backward", "zero_grad"):
            names = set(event.grads)
        elif event.kind in ("step", "update"):
            names = set(event.params)
        else:
            continue
        assert names <= expected | leaves, (event.seq, event.kind, names - expected)
        seen |= names
    assert seen - (leaves - expected) == expected
