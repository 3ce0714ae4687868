"""An optimizer's hyperparameters as a step event records them: what the script chose.

Every parameter group of a torch optimizer also carries its implementation switches
(``foreach``, ``fused``, ``differentiable``, ``capturable``) and a few flags that are
almost always off (``maximize``); listing ``foreach=None`` beside ``lr=0.1`` on every step
is noise. A switch at its off value is left out; one the script set is shown. The
learning rate and the algorithm's own numbers (``momentum``, ``betas``, ``eps``,
``weight_decay``, ``amsgrad``, …) are always kept, at any value.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch

from gradtui.engine.tensors import plain_value

#: Switches of torch's optimizers (SGD, Adam, AdamW, RMSprop, Adagrad and the others in
#: torch 2.13) and the value at which each changes nothing the user chose.
OFF_VALUES: dict[str, object] = {
    "foreach": None,
    "fused": None,
    "differentiable": False,
    "capturable": False,
    "maximize": False,
    "decoupled_weight_decay": False,
}


def hyperparameters(opt: torch.optim.Optimizer) -> tuple[dict[str, Any], ...]:
    """One dict per parameter group: everything but the parameters and the switches left off."""
    fixed = _fixed_by_class(type(opt))
    return tuple(
        {k: plain_value(v) for k, v in group.items() if k != "params" and not _off(k, v, fixed)}
        for group in opt.param_groups
    )


def _off(key: str, value: Any, fixed: frozenset[str]) -> bool:
    if key not in OFF_VALUES:
        return False
    return value is OFF_VALUES[key] or key in fixed


_FIXED: dict[type, frozenset[str]] = {}


def _fixed_by_class(cls: type) -> frozenset[str]:
    """Switches a class sets itself and the script cannot pass (AdamW's decoupled weight
    decay is what makes it AdamW; its name already says so). Looked up once per class."""
    fixed = _FIXED.get(cls)
    if fixed is None:
        accepted: Mapping[str, inspect.Parameter]
        try:
            accepted = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            accepted = {}
        if not accepted or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            fixed = frozenset()
        else:
            fixed = frozenset(k for k in OFF_VALUES if k not in accepted)
        _FIXED[cls] = fixed
    return fixed
