"""An event's ``payload`` column: its v1 JSON object, made compact, and back.

The payload is what ``event_json`` writes for the event, minus ``seq``, ``kind``, ``file``
and ``line`` (columns of their own), with three savings that keep it plain JSON that the
``sqlite3`` tool can read: a tensor is the id of its row in ``tensors`` (a bare number
where only a tensor can stand: an op's output, a node's gradients; ``{"t": id}`` among
optimizer state and hyperparameters, where a number may stand too); a change (a
``.grad`` or parameter before and after) is ``[before, after]``; and what a reader can
tell without it is left out: a line event's ``function`` when it is ``<module>``, an
op's ``grad_enabled`` when true, and an op's ``grad_fn`` when its output's layout
already names it.
"""

from __future__ import annotations

from typing import Any

from gradtui.model.json_values import TimelineFormatError

#: The fields whose values map names to changes, in the kinds that have them.
_CHANGES = ("grads", "params")
_COLUMNS = ("seq", "kind", "file", "line")


class TensorId(int):
    """A tensor's row id as the writer spells it, told apart from a plain number in optimizer state.

    ``grad_fn`` is the tensor's own, so that the payload can leave out an op's when it is the same.
    """

    grad_fn: str | None = None


def output_grad_fn(v: Any) -> str | None:
    return v.grad_fn if isinstance(v, TensorId) else None


def compact_payload(d: dict[str, Any]) -> dict[str, Any]:
    """The event's JSON object (tensors already spelled as ids) as the payload column holds it."""
    kind = d["kind"]
    for key in _COLUMNS:
        del d[key]
    if kind == "line" and d.get("function") == "<module>":
        del d["function"]
    elif kind == "op":
        if d.get("grad_enabled") is True:
            del d["grad_enabled"]
        if d.get("output") is not None and d.get("grad_fn") == output_grad_fn(d["output"]):
            del d["grad_fn"]
    for key in _CHANGES:
        changes = d.get(key)
        if isinstance(changes, dict):
            d[key] = {name: [c["before"], c["after"]] for name, c in changes.items()}
    if kind == "step":
        d["hyperparams"] = [{k: _wrap(v) for k, v in g.items()} for g in d["hyperparams"]]
        d["state"] = {n: {k: _wrap(v) for k, v in s.items()} for n, s in d["state"].items()}
    return d


def _wrap(v: Any) -> Any:
    if isinstance(v, TensorId):
        return {"t": int(v)}
    if isinstance(v, list):
        return [_wrap(x) for x in v]
    return v


def expand_payload(d: dict[str, Any], seq: int, kind: str, file: str, line: int) -> dict[str, Any]:
    """The event's v1 JSON object again, with each tensor as ``{"t": id}`` for the reader to fetch."""
    d.update(seq=seq, kind=kind, file=file, line=line)
    if kind == "line":
        d.setdefault("function", "<module>")
        scope = d.get("scope")
        if isinstance(scope, dict) and isinstance(scope.get("set"), dict):
            for var in scope["set"].values():
                _var_refs(var)
    for key in _CHANGES:
        changes = d.get(key)
        if isinstance(changes, dict):
            out = {}
            for name, c in changes.items():
                if not (isinstance(c, list) and len(c) == 2):
                    raise TimelineFormatError(f"event {seq}: '{key}.{name}' must be [before, after]")
                out[name] = {"before": _ref(c[0]), "after": _ref(c[1])}
            d[key] = out
    if kind == "op":
        d.setdefault("grad_enabled", True)
        d["output"] = _ref(d.get("output"))
    elif kind in ("backward", "grad"):
        for node in d.get("nodes") or ():
            if isinstance(node, dict):
                node["grad_in"] = [_ref(g) for g in node.get("grad_in", ())]
                node["grad_out"] = [_ref(g) for g in node.get("grad_out", ())]
        if kind == "grad":
            d["results"] = [_ref(t) for t in d.get("results") or ()]
    elif kind == "hook":
        for key in ("before", "after"):
            d[key] = [_ref(t) for t in d.get(key) or ()]
    return d


def _var_refs(var: Any) -> None:
    """A variable's tensors (its own, and its members') as ``{"t": id}``, in place."""
    if not isinstance(var, dict):
        return
    facts = var.get("tensor")
    if isinstance(facts, dict):
        facts["value"], facts["grad"] = _ref(facts.get("value")), _ref(facts.get("grad"))
    for pair in var.get("members") or ():
        if isinstance(pair, list) and len(pair) == 2:
            _var_refs(pair[1])


def _ref(v: Any) -> Any:
    return {"t": v} if isinstance(v, int) and not isinstance(v, bool) else v
