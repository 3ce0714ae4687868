"""How a variable reads on screen: one line for the panel, the facts a tensor opens into, a repr.

The variables panel, the prompt's answers, the watches and the tensor detail view all
write a value the same way, so it is said once here, from model values only. A tensor's
line leads with what the autograd lesson asks (``grad_fn``, leaf or not, ``.grad``);
its values print as torch would print them, as far as the timeline kept them.
No torch, no textual.
"""

from __future__ import annotations

from typing import Any

from gradtui.model.formatting import format_number, format_shape, format_stats, format_tensor, stats_from_values
from gradtui.model.tensors import TensorSummary
from gradtui.model.variables import TensorFacts, Var


def var_line(v: Var) -> str:
    """``Tensor float32[2x2] [[3, 3], [3, 3]] · grad_fn AddBackward0 · non-leaf · .grad None``."""
    facts = v.tensor
    if facts is not None:
        return f"{v.type} {tensor_head(facts)}"
    if v.role in ("number", "text"):
        return v.text
    head = v.type if not v.text else f"{v.type} ({v.text})"
    if v.role == "container" and v.length is not None and v.length > len(v.members):
        head += f", first {len(v.members)} shown"
    return head


def tensor_head(facts: TensorFacts) -> str:
    t = facts.value
    parts = [f"{t.dtype}[{format_shape(t.shape)}] {format_tensor(t)}"]
    if t.grad_fn is not None:
        parts.append(f"grad_fn {t.grad_fn}")
    elif t.requires_grad:
        parts.append("requires_grad")
    if t.requires_grad or facts.grad is not None:
        parts.append("leaf" if facts.is_leaf else "non-leaf")
        parts.append(f".grad {format_tensor(facts.grad)}")
    return " · ".join(parts)


def tensor_facts(facts: TensorFacts) -> list[tuple[str, str]]:
    """``(label, text)`` for each fact of a tensor, in the order the tutorial asks them."""
    t = facts.value
    rows = [("requires_grad", str(t.requires_grad)), ("is_leaf", str(facts.is_leaf)),
            ("grad_fn", t.grad_fn or "None"), (".grad", format_tensor(facts.grad))]
    if facts.retains_grad:
        rows.append(("retains_grad", "True"))
    rows += [("shape", format_shape(t.shape)), ("dtype", t.dtype), ("device", facts.device),
             ("_version", "n/a (inference tensor)" if facts.version is None else str(facts.version))]
    stats = stats_from_values(t)
    rows.append(("values" if t.values is not None else "statistics",
                 format_tensor(t, inline=64) if t.values is not None else format_stats(stats)))
    return rows


def torch_repr(t: TensorSummary) -> str | None:
    """The tensor as ``print(t)`` shows it, from kept values (None where only statistics were kept).

    Numbers are written as the rest of gradtui writes them (six significant digits), laid
    out like torch's repr: nested brackets, one row per line, aligned columns.
    """
    if t.values is None:
        return None
    body = _nested(t.values, 1, _width(t.values))
    extra = []
    if t.grad_fn is not None:
        extra.append(f"grad_fn=<{t.grad_fn}>")
    elif t.requires_grad:
        extra.append("requires_grad=True")
    if t.dtype not in ("float32", "int64", "bool"):
        extra.append(f"dtype=torch.{t.dtype}")
    return "tensor(" + body + "".join(", " + e for e in extra) + ")"


def _width(values: Any) -> int:
    if isinstance(values, list):
        return max((_width(v) for v in values), default=0)
    return len(format_number(values))


def _nested(values: Any, depth: int, width: int) -> str:
    if not isinstance(values, list):
        return format_number(values).rjust(width)
    if not values or not isinstance(values[0], list):
        return "[" + ", ".join(_nested(v, depth + 1, width) for v in values) + "]"
    pad = " " * (7 + depth)
    sep = "," + "\n" * (1 if not isinstance(values[0][0], list) else 2) + pad
    return "[" + sep.join(_nested(v, depth + 1, width) for v in values) + "]"
