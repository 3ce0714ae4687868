"""A line event's ``scope`` (its frame's changed variables) as JSON and back.

Kept apart from ``event_json`` because a ``Var`` is a tree: a module opens into its
parameters, an optimizer into its groups and state. The spelling is documented in
docs/timeline-format.md. Tensors go through the caller's writer and reader, so a
recording stores each one once, as a row id. No torch, no textual.
"""

from __future__ import annotations

from typing import Any

from gradtui.model.json_values import Reader, TensorReader, TensorWriter
from gradtui.model.variables import ROLES, FrameRef, ScopeDelta, TensorFacts, Var, resolved

#: How deep a ``Var`` tree may nest in a file (the engine writes at most a few levels).
_MAX_DEPTH = 12


def scope_to_json(delta: ScopeDelta, tensor: TensorWriter) -> dict[str, Any]:
    out: dict[str, Any] = {"frame": delta.frame}
    if delta.since is not None:
        out["since"] = delta.since
    if delta.changed:
        out["set"] = {name: var_to_json(resolved(v), tensor) for name, v in delta.changed.items()}
    if delta.gone:
        out["gone"] = list(delta.gone)
    if delta.full:
        out["full"] = True
    if delta.callers:
        out["callers"] = [{"frame": f.frame, "function": f.function, "file": f.file, "line": f.line}
                          for f in delta.callers]
    return out


def var_to_json(v: Var, tensor: TensorWriter) -> dict[str, Any]:
    out: dict[str, Any] = {"role": v.role, "type": v.type}
    if v.text:
        out["text"] = v.text
    facts = v.tensor
    if facts is not None:
        t: dict[str, Any] = {"value": tensor(facts.value), "device": facts.device, "is_leaf": facts.is_leaf,
                             "version": facts.version, "grad": tensor(facts.grad)}
        if facts.node is not None:
            t["node"] = facts.node
        if facts.retains_grad:
            t["retains_grad"] = True
        out["tensor"] = t
    if v.members:
        out["members"] = [[name, var_to_json(m, tensor)] for name, m in v.members]
    if v.length is not None:
        out["length"] = v.length
    return out


def scope_from_json(d: Any, where: str, read: TensorReader) -> ScopeDelta:
    r = Reader(where)
    if not isinstance(d, dict):
        raise r.fail("'scope' must be an object")
    changed = r.get(d, "set", dict, optional=True) or {}
    gone = r.get(d, "gone", list, optional=True) or []
    if not all(isinstance(n, str) for n in gone):
        raise r.fail("'gone' must be a list of names")
    callers = []
    for i, c in enumerate(r.get(d, "callers", list, optional=True) or []):
        cr = Reader(f"{where}.callers[{i}]")
        if not isinstance(c, dict):
            raise cr.fail("each caller must be an object")
        callers.append(FrameRef(cr.get(c, "frame", int), cr.get(c, "function", str), cr.get(c, "file", str),
                                cr.get(c, "line", int)))
    return ScopeDelta(frame=r.get(d, "frame", int), since=r.get(d, "since", int, optional=True),
                      changed={name: var_from_json(v, f"{where}.set.{name}", read) for name, v in changed.items()},
                      gone=tuple(gone), full=bool(r.get(d, "full", bool, optional=True)), callers=tuple(callers))


def var_from_json(d: Any, where: str, read: TensorReader, depth: int = 0) -> Var:
    r = Reader(where)
    if not isinstance(d, dict):
        raise r.fail("a variable must be an object")
    if depth > _MAX_DEPTH:
        raise r.fail(f"variables nest more than {_MAX_DEPTH} levels deep")
    role = r.get(d, "role", str)
    if role not in ROLES:
        raise r.fail(f"unknown variable role '{role}'")
    facts = None
    t = d.get("tensor")
    if t is not None:
        tr = Reader(f"{where}.tensor")
        if not isinstance(t, dict):
            raise tr.fail("'tensor' must be an object")
        value = read(t.get("value"), f"{where}.tensor.value")
        if value is None:
            raise tr.fail("'value' must be a tensor")
        version = tr.get(t, "version", int, optional=True)
        facts = TensorFacts(value, tr.get(t, "device", str), tr.get(t, "is_leaf", bool), version,
                            read(t.get("grad"), f"{where}.tensor.grad"), tr.get(t, "node", int, optional=True),
                            bool(tr.get(t, "retains_grad", bool, optional=True)))
    members = []
    for i, pair in enumerate(r.get(d, "members", list, optional=True) or []):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise r.fail("each member must be [name, variable]")
        members.append((pair[0], var_from_json(pair[1], f"{where}.members[{i}]", read, depth + 1)))
    return Var(role, r.get(d, "type", str), r.get(d, "text", str, optional=True) or "", facts, tuple(members),
               r.get(d, "length", int, optional=True))
