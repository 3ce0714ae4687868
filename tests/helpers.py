"""Small readers of timelines for the tests: events by kind, values as flat lists."""

from __future__ import annotations

from typing import Any

from gradtui.model.events import Event
from gradtui.model.tensors import TensorSummary
from gradtui.model.timeline import Timeline


def of_kind(tl: Timeline, kind: str) -> list[Any]:
    return [e for e in tl.events if e.kind == kind]


def flat(t: TensorSummary | None) -> list[Any] | None:
    """Row-major values of a summary, ``None`` for a ``None`` tensor."""
    if t is None:
        return None
    values = t.flat_values()
    assert values is not None, f"values were not kept for {t!r}"
    return values


def stdout(tl: Timeline) -> str:
    return "".join(e.text for e in of_kind(tl, "output") if e.stream == "stdout")


def stderr(tl: Timeline) -> str:
    return "".join(e.text for e in of_kind(tl, "output") if e.stream == "stderr")


def grad_changes(tl: Timeline, kind: str, name: str) -> list[tuple[Any, Any]]:
    """(before, after) of ``name`` in every ``kind`` event that touched it, as flat values."""
    out = []
    for e in of_kind(tl, kind):
        changes: dict[str, Any] = e.grads if kind != "step" else e.params
        if name in changes:
            out.append((flat(changes[name].before), flat(changes[name].after)))
    return out


def seqs_ok(tl: Timeline) -> bool:
    return all(e.seq == i for i, e in enumerate(tl.events))


__all__ = ["Event", "flat", "grad_changes", "of_kind", "seqs_ok", "stderr", "stdout"]
