"""What the events of the current line did so far, laid over the variables its start recorded.

The engine looks at a frame between lines (``gradtui.model.scopes``); a cursor on the
line's ``backward()`` or ``step()`` must still show the ``.grad`` or value that event
wrote, as the gradients and parameters panels do. Each is the event's own ``after``, by
the name the event gives it (``theta``; ``net.0.weight`` for a module's parameter).
No torch, no textual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from gradtui.model.events import (
    BackwardDone,
    Change,
    Event,
    GradsClipped,
    GradsUnscaled,
    GradsZeroed,
    ParamsUpdated,
    StepTaken,
)
from gradtui.model.index import EventIndex
from gradtui.model.variables import TensorFacts, Var

Patch = Callable[[TensorFacts], TensorFacts]

#: The kinds that write ``.grad`` (``grads``) or parameters (``params``) in the middle of a line.
_GRADS: Final = (BackwardDone, GradsZeroed, GradsClipped, GradsUnscaled)
_PARAMS: Final = (StepTaken, ParamsUpdated)
_WRITERS: Final = tuple(cls.kind for cls in (*_GRADS, *_PARAMS))


def overlay(events: Sequence[Event], line: int, upto: int, variables: dict[str, Var]) -> None:
    """Apply the ``.grad`` and parameter writes of events ``line + 1 .. upto`` to ``variables``."""
    if isinstance(events, EventIndex):
        found = []
        pos = events.following(_WRITERS, line)
        while pos is not None and pos <= upto:
            found.append(pos)
            pos = events.following(_WRITERS, pos)
    else:
        found = [j for j in range(line + 1, upto + 1) if isinstance(events[j], _GRADS + _PARAMS)]
    for j in found:
        event = events[j]
        if isinstance(event, _GRADS):
            for name, change in event.grads.items():
                _patch(variables, name, _set_grad(change))
        elif isinstance(event, _PARAMS):
            for name, change in event.params.items():
                if change.after is not None:
                    _patch(variables, name, _set_value(change))


def _patch(variables: dict[str, Var], name: str, change: Patch) -> None:
    var = variables.get(name)
    if var is not None and var.tensor is not None:
        variables[name] = replace(var, tensor=change(var.tensor))
        return
    head, _, rest = name.partition(".")
    owner = variables.get(head)
    if not rest or owner is None or owner.role != "module":
        return
    members = []
    for key, member in owner.members:
        if key == rest and member.tensor is not None:
            member = replace(member, tensor=change(member.tensor))
        members.append((key, member))
    variables[head] = replace(owner, members=tuple(members))


def _set_grad(change: Change) -> Patch:
    return lambda facts: replace(facts, grad=change.after)


def _set_value(change: Change) -> Patch:
    after = change.after
    return lambda facts: facts if after is None else replace(facts, value=after)
