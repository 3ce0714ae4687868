"""Small helpers that pull tensors and plain values out of what torch hands the engine.

Kept apart from the session so that the rules for "what counts as a value" (a 1-element
tensor learning rate is a number, a list of LBFGS history tensors is a count) live in
one place.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

from gradtui.model.formatting import format_number
from gradtui.model.tensors import TensorSummary


def first_tensor(out: Any) -> torch.Tensor | None:
    """The tensor an operation returned, or the first of a tuple of them (``max(dim=...)``)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor):
                return item
    return None


def describe_args(args: Any, kwargs: Mapping[str, Any], name: Callable[[torch.Tensor], str]) -> tuple[str, ...]:
    """An operation's arguments as the script wrote them: tensors by name, numbers by value.

    On every recorded operation's path: a plain loop over a module-level function, not a
    closure and two generators made anew for each call.
    """
    out = [_describe_one(a, name) for a in args]
    if kwargs:
        out += [f"{k}={_describe_one(v, name)}" for k, v in kwargs.items()]
    return tuple(out)


def _describe_one(value: Any, name: Callable[[torch.Tensor], str]) -> str:
    if isinstance(value, torch.Tensor):
        return name(value)
    if isinstance(value, (bool, int, float, complex)) or value is None:
        return format_number(value)
    if isinstance(value, (tuple, list)) and len(value) <= 8:
        inner = ", ".join([_describe_one(v, name) for v in value])
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"  # (16,) as Python spells it
    if isinstance(value, (str, torch.dtype, torch.device)):
        return repr(value) if isinstance(value, str) else str(value)
    return type(value).__name__


#: Each function's keyword defaults, looked up once: this is on every operation's path.
_DEFAULTS: dict[Any, Mapping[str, Any]] = {}
_PLAIN = (bool, int, float, str, type(None))


def _defaults(func: Any) -> Mapping[str, Any]:
    try:
        return _DEFAULTS[func]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable: look it up every time
        return _signature_defaults(func)
    found = _DEFAULTS[func] = _signature_defaults(func)
    return found


def _signature_defaults(func: Any) -> Mapping[str, Any]:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # a C function (torch.sum, linear): torch passes only what was written
        return {}
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def _is_default(value: Any, default: Any) -> bool:
    """Plain values only: comparing a tensor with ``==`` would be an operation of its own."""
    if value is default:
        return True
    if type(value) is not type(default):
        return False
    if isinstance(value, tuple):
        return len(value) == len(default) and all(_is_default(v, d) for v, d in zip(value, default))
    return isinstance(value, _PLAIN) and bool(value == default)


def written_kwargs(func: Any, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The keywords of a call as the script could have written them.

    torch's Python wrappers hand ``__torch_function__`` every keyword they have:
    ``F.mse_loss(x, y)`` arrives with ``size_average=None, reduce=None, reduction='mean'``,
    ``F.softmax(x, dim=-1)`` with ``_stacklevel=3, dtype=None``. Keywords at the function's
    default are left out (a default the script spelled out is indistinguishable, and says
    nothing either), private ones (``_stacklevel``) always.
    """
    if not kwargs:
        return kwargs
    defaults = _defaults(func)
    return {k: v for k, v in kwargs.items()
            if not k.startswith("_") and not (k in defaults and _is_default(v, defaults[k]))}


def optimizer_params(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    seen: set[int] = set()
    params = []
    for group in opt.param_groups:
        for p in group["params"]:
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


def plain_value(v: Any) -> Any:
    """A hyperparameter or scalar as JSON-friendly Python: numbers, flags, strings, tuples."""
    if isinstance(v, torch.Tensor):
        return plain_value(v.detach().reshape(-1)[0].item()) if v.numel() == 1 else str(list(v.shape))
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (tuple, list)):
        return tuple(plain_value(x) for x in v)
    return str(v)


def state_entry(
    entry: Mapping[str, Any], summarize: Callable[[torch.Tensor], TensorSummary | None]
) -> dict[str, Any]:
    """One parameter's optimizer state: tensors summarised, numbers kept, lists counted."""
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, torch.Tensor):
            out[str(key)] = summarize(value)
        elif isinstance(value, (bool, int, float)) or value is None:
            out[str(key)] = value
        elif isinstance(value, (list, tuple)):
            out[f"len({key})"] = len(value)
    return out
