"""Operations and optimizers are shown as the script wrote them, not as torch fills them in.

torch's functional wrappers forward every keyword to ``__torch_function__`` (``F.mse_loss(x, y)``
arrives with ``size_average=None, reduce=None, reduction='mean'``) and every parameter
group carries implementation switches (``foreach=None``, ``fused=None``). The expected
values here are read off the script lines themselves and torch's documented defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from gradtui.engine.tensors import describe_args, written_kwargs
from tests.helpers import of_kind

OPS_SCRIPT = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
x = torch.randn(4, 3)
target = torch.randn(4, 3)
labels = torch.tensor([0, 2, 1, 0])
lin = nn.Linear(3, 3)
out = lin(x)
a = F.mse_loss(out, target)
b = F.mse_loss(out, target, reduction="sum")
c = F.softmax(out, dim=-1)
d = F.cross_entropy(out, labels)
e = F.cross_entropy(out, labels, label_smoothing=0.1)
f = F.dropout(x, p=0.2, training=False)
g = out.sum(dim=0, keepdim=True)
h = F.layer_norm(x, (3,))
"""

# op name -> the arguments as each line above wrote them, in order of the lines.
WRITTEN = {
    "mse_loss": [("out", "target"), ("out", "target", "reduction='sum'")],
    "softmax": [("out", "dim=-1")],
    "cross_entropy": [("out", "labels"), ("out", "labels", "label_smoothing=0.1")],
    "dropout": [("x", "p=0.2", "training=False")],
    "sum": [("out", "dim=0", "keepdim=True")],
    "layer_norm": [("x", "(3,)")],
}


def test_op_arguments_are_the_ones_the_script_wrote(run_script: Any, tmp_path: Path) -> None:
    script = tmp_path / "ops.py"
    script.write_text(OPS_SCRIPT)
    tl = run_script(script)
    ops = of_kind(tl, "op")
    for op, expected in WRITTEN.items():
        assert [e.args for e in ops if e.op == op] == expected, op
    (linear,) = [e for e in ops if e.op == "linear"]
    # lin(x): nn.Linear's forward passes input, weight and bias positionally, no keyword.
    assert linear.args[0] == "x" and len(linear.args) == 3
    assert not [arg for e in ops for arg in e.args if "=" in arg and arg.split("=")[0] not in
                {"reduction", "dim", "label_smoothing", "p", "training", "keepdim"}]


class _Calls(TorchFunctionMode):
    """What torch hands a mode: (function, keywords) of each call, as in the engine."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.calls.append((func, dict(kwargs or {})))
        return func(*args, **(kwargs or {}))


def test_torch_really_sends_the_defaulted_keywords() -> None:
    """Otherwise the test above would pass for the wrong reason."""
    x = torch.randn(2, 3)
    with _Calls() as mode:
        F.mse_loss(x, x)
        F.softmax(x, dim=-1)
    (mse, mse_kwargs), (softmax, softmax_kwargs) = mode.calls
    assert {"size_average", "reduce", "reduction"} <= set(mse_kwargs)
    assert "_stacklevel" in softmax_kwargs
    assert written_kwargs(mse, mse_kwargs) == {}
    assert written_kwargs(softmax, softmax_kwargs) == {"dim": -1}


def test_private_keywords_are_never_shown_even_without_a_signature() -> None:
    # torch.sum is a C function: no signature to compare with, only the underscore rule.
    assert written_kwargs(torch.sum, {"dim": 0, "_private": 3}) == {"dim": 0}
    assert describe_args((), written_kwargs(torch.sum, {"dim": 0, "_private": 3}), str) == ("dim=0",)


def test_a_keyword_equal_in_value_but_not_in_type_is_kept() -> None:
    # label_smoothing defaults to 0.0; the script's integer 1 is a different (and wrong) value.
    kept = written_kwargs(F.cross_entropy, {"label_smoothing": 1, "ignore_index": -100})
    assert kept == {"label_smoothing": 1}
    assert written_kwargs(F.dropout, {"training": 1}) == {"training": 1}  # not the default True


OPTIMIZER_SCRIPT = """\
import torch

w = torch.nn.Parameter(torch.ones(2))
opt = torch.optim.{cls}([w], {options})
(w * w).sum().backward()
opt.step()
"""


@pytest.mark.parametrize(
    ("cls", "options", "expected"),
    [
        # torch's documented defaults for each class, the off switches left out
        ("SGD", "lr=0.1", {"lr": 0.1, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False}),
        ("SGD", "lr=0.1, momentum=0.9, foreach=True",
         {"lr": 0.1, "momentum": 0.9, "dampening": 0, "weight_decay": 0, "nesterov": False, "foreach": True}),
        ("AdamW", "lr=0.01",
         {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0.01, "amsgrad": False}),
        ("Adam", "lr=0.01, maximize=True, decoupled_weight_decay=True",
         {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "amsgrad": False,
          "maximize": True, "decoupled_weight_decay": True}),
        ("RMSprop", "lr=0.01",
         {"lr": 0.01, "momentum": 0, "alpha": 0.99, "eps": 1e-08, "centered": False, "weight_decay": 0}),
        ("Adagrad", "lr=0.1",
         {"lr": 0.1, "lr_decay": 0, "eps": 1e-10, "weight_decay": 0, "initial_accumulator_value": 0}),
    ],
)
def test_hyperparameters_leave_out_the_switches_that_are_off(
    run_script: Any, tmp_path: Path, cls: str, options: str, expected: dict[str, Any]
) -> None:
    script = tmp_path / "opt.py"
    script.write_text(OPTIMIZER_SCRIPT.format(cls=cls, options=options))
    (step,) = of_kind(run_script(script), "step")
    assert step.optimizer.cls == cls
    assert step.hyperparams == (expected,)
