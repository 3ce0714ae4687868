"""Finding variables by the names other panels use: a graph node's tensor, a parameter's module.

The graph writes ``AddBackward0 → y`` for the node whose tensor the script calls ``y``;
the gradients and parameters panels name ``net.0.weight``, which is the parameter
``0.weight`` of the variable ``net``. Both are answered from the variables at an event
(``gradtui.model.scopes``). No torch, no textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gradtui.model.events import Event
from gradtui.model.scopes import frame_vars, stack_at
from gradtui.model.variables import Var


def node_names(events: Sequence[Event], upto: int) -> dict[int, str]:
    """``{graph node id: variable}`` for the innermost frame's tensors with a ``grad_fn`` at ``upto``.

    The graph panel writes ``AddBackward0 → y``: the node that made the tensor the script
    calls ``y``. Where two names hold one tensor, both are given (``y, y2``).
    """
    scope = frame_vars(events, upto)
    names: dict[int, str] = {}
    for name, var in (scope.variables.items() if scope is not None else ()):
        facts = var.tensor
        if facts is not None and facts.node is not None and not facts.is_leaf:
            names[facts.node] = f"{names[facts.node]}, {name}" if facts.node in names else name
    return names


@dataclass(frozen=True, slots=True)
class Found:
    """A tensor found by the name a panel gives it: variable ``name``, member ``path``, in frame ``depth``."""

    depth: int
    name: str
    path: tuple[str, ...]
    value: Var


def resolve(events: Sequence[Event], upto: int, name: str) -> Found | None:
    """The variable a panel's name stands for (``w``; ``net.0.weight`` is ``net``'s parameter ``0.weight``),
    looked up from the innermost frame outwards; None where no frame holds it."""
    for depth in range(len(stack_at(events, upto))):
        scope = frame_vars(events, upto, depth)
        if scope is None:
            break
        found = scope.variables.get(name)
        if found is not None:
            return Found(depth, name, (), found)
        head, _, rest = name.partition(".")
        owner = scope.variables.get(head)
        if rest and owner is not None and owner.role == "module":
            value = owner.member(rest)
            if value is not None:
                return Found(depth, head, (rest,), value)
    return None
