"""Saving a timeline to JSON and loading it back (format documented in docs/timeline-format.md).

Loading treats the file as data only: it is parsed with ``json`` and checked field by
field, so a timeline from anywhere can be opened safely, and a file that is not a
gradtui timeline (or is cut short) is refused with one sentence saying so.
Non-finite floats are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``
because strict JSON has no spelling for them.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gradtui.model.events import (
    EVENT_TYPES,
    BackwardDone,
    Change,
    ErrorRaised,
    Event,
    GradsZeroed,
    LineReached,
    NodeRun,
    OpCalled,
    OutputWritten,
    Owner,
    ParamsUpdated,
    RunReviewed,
    StepTaken,
    ValueWatched,
)
from gradtui.model.graph import GraphNode
from gradtui.model.tensors import TensorStats, TensorSummary
from gradtui.model.timeline import FORMAT_NAME, FORMAT_VERSION, STATUSES, ErrorInfo, Timeline


class TimelineFormatError(ValueError):
    """The file is not a readable gradtui timeline; the message says why, in one line."""


# ---------------------------------------------------------------- writing


def _number(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _values(v: Any) -> Any:
    if isinstance(v, list):
        return [_values(x) for x in v]
    return _number(v)


def tensor_to_json(t: TensorSummary | None, raw_values: bool = False) -> dict[str, Any] | None:
    """``raw_values`` leaves values as they are: only for a writer that refuses non-finite floats."""
    if t is None:
        return None
    stats = t.stats
    return {
        "shape": list(t.shape),
        "dtype": t.dtype,
        "requires_grad": t.requires_grad,
        "grad_fn": t.grad_fn,
        "values": None if t.values is None else (t.values if raw_values else _values(t.values)),
        "stats": None if stats is None else {k: _number(getattr(stats, k)) for k in TensorStats.__slots__},
    }


def _changes(changes: Mapping[str, Change], raw: bool) -> dict[str, Any]:
    return {n: {"before": tensor_to_json(c.before, raw), "after": tensor_to_json(c.after, raw)}
            for n, c in changes.items()}


def _plain(v: Any, raw: bool) -> Any:
    if isinstance(v, TensorSummary):
        return tensor_to_json(v, raw)
    if isinstance(v, tuple):
        return [_plain(x, raw) for x in v]
    return _number(v)


def event_to_json(e: Event, raw_values: bool = False) -> dict[str, Any]:
    raw = raw_values
    out: dict[str, Any] = {"seq": e.seq, "kind": e.kind, "file": e.file, "line": e.line}
    if e.notes:
        out["notes"] = list(e.notes)
    if isinstance(e, LineReached):
        out["function"] = e.function
    elif isinstance(e, OpCalled):
        out.update(op=e.op, grad_fn=e.grad_fn, grad_enabled=e.grad_enabled, args=list(e.args),
                   output=tensor_to_json(e.output, raw), graph=e.graph)
    elif isinstance(e, BackwardDone):
        out.update(root=e.root, loss=_number(e.loss), grads=_changes(e.grads, raw), graph=e.graph,
                   nodes=[{"id": n.id, "name": n.name, "grad_in": [tensor_to_json(g, raw) for g in n.grad_in],
                           "grad_out": [tensor_to_json(g, raw) for g in n.grad_out]} for n in e.nodes])
        if e.loss_scale is not None:
            out["loss_scale"] = _number(e.loss_scale)
    elif isinstance(e, GradsZeroed):
        out.update(optimizer={"name": e.optimizer.name, "class": e.optimizer.cls}, grads=_changes(e.grads, raw))
    elif isinstance(e, StepTaken):
        out.update(
            optimizer={"name": e.optimizer.name, "class": e.optimizer.cls},
            hyperparams=[{k: _plain(v, raw) for k, v in g.items()} for g in e.hyperparams],
            params=_changes(e.params, raw),
            state={n: {k: _plain(v, raw) for k, v in s.items()} for n, s in e.state.items()},
        )
    elif isinstance(e, ParamsUpdated):
        out.update(op=e.op, args=list(e.args), grad_enabled=e.grad_enabled, through_data=e.through_data,
                   params=_changes(e.params, raw))
    elif isinstance(e, OutputWritten):
        out.update(stream=e.stream, text=e.text)
    elif isinstance(e, ErrorRaised):
        out.update(type=e.type, message=e.message, traceback=e.traceback)
    elif isinstance(e, ValueWatched):
        out.update(name=e.name, value=_number(e.value))
    return out


def _node_to_json(n: GraphNode) -> dict[str, Any]:
    out = {"id": n.id, "name": n.name, "children": list(n.children), "variable": n.variable, "module": n.module}
    if n.module_class is not None:
        out["module_class"] = n.module_class
    return out


def timeline_to_json(tl: Timeline, raw_values: bool = False) -> dict[str, Any]:
    error = None
    if tl.error is not None:
        error = {"type": tl.error.type, "message": tl.error.message, "line": tl.error.line, "file": tl.error.file}
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "script": tl.script,
        "argv": list(tl.argv),
        "status": tl.status,
        "exit_code": tl.exit_code,
        "error": error,
        "max_values": tl.max_values,
        "torch_version": tl.torch_version,
        "graph": [_node_to_json(n) for n in tl.graph.values()],
        "sources": dict(tl.sources),
        "events": [event_to_json(e, raw_values) for e in tl.events],
    }


def _dumps(tl: Timeline) -> str:
    """The document as one string (json.dump() to a file would use the slow pure-Python encoder).

    Tensor values are first passed through as they are, and the encoder refuses any
    non-finite float; only a timeline that has one is converted number by number, which
    took half of a 10 MiB save.
    """
    options: dict[str, Any] = dict(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return json.dumps(timeline_to_json(tl, raw_values=True), **options)
    except ValueError:
        return json.dumps(timeline_to_json(tl), **options)


def save(tl: Timeline, path: str | os.PathLike[str]) -> None:
    """Write ``tl`` to ``path`` atomically: a reader never sees half a file.

    An existing target that is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO)
    is written to in place: replacing it with a file would destroy the device or pipe.
    """
    target = Path(path)
    try:
        special = target.exists() and not stat.S_ISREG(target.stat().st_mode)
    except OSError:
        special = False
    if special:
        with target.open("w", encoding="utf-8") as fh:
            fh.write(_dumps(tl))
            fh.write("\n")
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_dumps(tl))
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- reading


class _Reader:
    """Field-by-field checks; ``where`` names the place in the document for messages."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, what: str) -> TimelineFormatError:
        return TimelineFormatError(f"{self.where}: {what}")

    def get(self, d: Mapping[str, Any], key: str, types: type | tuple[type, ...], optional: bool = False) -> Any:
        if key not in d:
            if optional:
                return None
            raise self.fail(f"missing field '{key}'")
        v = d[key]
        if v is None and optional:
            return None
        if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise self.fail(f"field '{key}' has the wrong type")
        if not isinstance(v, types):
            raise self.fail(f"field '{key}' has the wrong type")
        return v


def _unnumber(x: Any) -> Any:
    if isinstance(x, str) and x in ("nan", "inf", "-inf"):
        return float(x)
    return x


def _unvalues(v: Any) -> Any:
    if isinstance(v, list):
        return [_unvalues(x) for x in v]
    return _unnumber(v)


def tensor_from_json(d: Any, where: str) -> TensorSummary | None:
    if d is None:
        return None
    r = _Reader(where)
    if not isinstance(d, dict):
        raise r.fail("a tensor must be an object or null")
    shape = r.get(d, "shape", list)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise r.fail("'shape' must be a list of integers")
    stats = r.get(d, "stats", dict, optional=True)
    parsed_stats = None
    if stats is not None:
        try:
            parsed_stats = TensorStats(**{k: _unnumber(stats.get(k)) for k in TensorStats.__slots__})
        except TypeError as exc:  # pragma: no cover - defensive
            raise r.fail(f"bad 'stats': {exc}") from None
    values = d.get("values")
    return TensorSummary(
        shape=tuple(shape),
        dtype=r.get(d, "dtype", str),
        requires_grad=bool(r.get(d, "requires_grad", bool)),
        grad_fn=r.get(d, "grad_fn", str, optional=True),
        values=_unvalues(values) if values is not None else None,
        stats=parsed_stats,
    )


def _changes_from(d: Any, where: str) -> dict[str, Change]:
    if not isinstance(d, dict):
        raise TimelineFormatError(f"{where}: must be an object")
    out = {}
    for name, c in d.items():
        if not isinstance(c, dict) or "before" not in c or "after" not in c:
            raise TimelineFormatError(f"{where}.{name}: needs 'before' and 'after'")
        out[name] = Change(tensor_from_json(c["before"], f"{where}.{name}.before"),
                           tensor_from_json(c["after"], f"{where}.{name}.after"))
    return out


def _owner(d: Any, where: str) -> Owner:
    r = _Reader(where)
    if not isinstance(d, dict):
        raise r.fail("'optimizer' must be an object")
    return Owner(r.get(d, "name", str), r.get(d, "class", str))


def _plain_from(v: Any, where: str) -> Any:
    if isinstance(v, dict):
        return tensor_from_json(v, where)
    if isinstance(v, list):
        return tuple(_unnumber(x) for x in v)
    return _unnumber(v)


def event_from_json(d: Any, index: int) -> Event:
    where = f"events[{index}]"
    r = _Reader(where)
    if not isinstance(d, dict):
        raise r.fail("an event must be an object")
    kind = r.get(d, "kind", str)
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise r.fail(f"unknown event kind '{kind}'")
    seq = r.get(d, "seq", int)
    if seq != index:
        raise r.fail(f"'seq' is {seq}, expected {index}")
    notes = r.get(d, "notes", list, optional=True) or []
    if not all(isinstance(n, str) for n in notes):
        raise r.fail("'notes' must be a list of sentences")
    base = dict(seq=seq, file=r.get(d, "file", str), line=r.get(d, "line", int), notes=tuple(notes))
    if cls is LineReached:
        return LineReached(**base, function=r.get(d, "function", str, optional=True) or "<module>")
    if cls is OpCalled:
        return OpCalled(**base, op=r.get(d, "op", str), grad_fn=r.get(d, "grad_fn", str, optional=True),
                        grad_enabled=r.get(d, "grad_enabled", bool),
                        args=tuple(str(a) for a in (r.get(d, "args", list, optional=True) or ())),
                        output=tensor_from_json(d.get("output"), f"{where}.output"),
                        graph=r.get(d, "graph", int, optional=True))
    if cls is BackwardDone:
        loss = _unnumber(d.get("loss"))
        scale = _unnumber(d.get("loss_scale"))
        return BackwardDone(**base, root=r.get(d, "root", str), loss=loss,
                            loss_scale=float(scale) if isinstance(scale, int | float) and not isinstance(scale, bool)
                            else None,
                            grads=_changes_from(r.get(d, "grads", dict), f"{where}.grads"),
                            graph=r.get(d, "graph", int, optional=True),
                            nodes=_node_runs(r.get(d, "nodes", list, optional=True) or [], f"{where}.nodes"))
    if cls is GradsZeroed:
        return GradsZeroed(**base, optimizer=_owner(d.get("optimizer"), where),
                           grads=_changes_from(r.get(d, "grads", dict), f"{where}.grads"))
    if cls is StepTaken:
        groups = r.get(d, "hyperparams", list)
        state = r.get(d, "state", dict)
        if not all(isinstance(g, dict) for g in groups):
            raise r.fail("each entry of 'hyperparams' must be an object (one per parameter group)")
        if not all(isinstance(entry, dict) for entry in state.values()):
            raise r.fail("each entry of 'state' must be an object (one per parameter)")
        return StepTaken(
            **base,
            optimizer=_owner(d.get("optimizer"), where),
            hyperparams=tuple({k: _plain_from(v, f"{where}.hyperparams") for k, v in g.items()} for g in groups),
            params=_changes_from(r.get(d, "params", dict), f"{where}.params"),
            state={n: {k: _plain_from(v, f"{where}.state.{n}.{k}") for k, v in s.items()} for n, s in state.items()},
        )
    if cls is ParamsUpdated:
        return ParamsUpdated(**base, op=r.get(d, "op", str),
                             args=tuple(str(a) for a in (r.get(d, "args", list, optional=True) or ())),
                             grad_enabled=r.get(d, "grad_enabled", bool),
                             through_data=bool(r.get(d, "through_data", bool, optional=True)),
                             params=_changes_from(r.get(d, "params", dict), f"{where}.params"))
    if cls is OutputWritten:
        return OutputWritten(**base, stream=r.get(d, "stream", str), text=r.get(d, "text", str))
    if cls is ValueWatched:
        value = _unnumber(d.get("value"))
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise r.fail("field 'value' must be a number or null")
        return ValueWatched(**base, name=r.get(d, "name", str), value=value)
    if cls is RunReviewed:
        return RunReviewed(**base)
    return ErrorRaised(**base, type=r.get(d, "type", str), message=r.get(d, "message", str),
                       traceback=r.get(d, "traceback", str, optional=True) or "")


def _node_runs(runs: list[Any], where: str) -> tuple[NodeRun, ...]:
    """A backward's nodes in the order torch ran them (optional: older files have none)."""
    out = []
    for i, d in enumerate(runs):
        r = _Reader(f"{where}[{i}]")
        if not isinstance(d, dict):
            raise r.fail("a node must be an object")
        grad_in = r.get(d, "grad_in", list)
        grad_out = r.get(d, "grad_out", list)
        out.append(NodeRun(
            r.get(d, "id", int), r.get(d, "name", str),
            tuple(tensor_from_json(g, f"{where}[{i}].grad_in") for g in grad_in),
            tuple(tensor_from_json(g, f"{where}[{i}].grad_out") for g in grad_out),
        ))
    return tuple(out)


def _graph_from(nodes: list[Any]) -> dict[int, GraphNode]:
    """The node table; optional in files, so version-1 timelines written before it still load."""
    table: dict[int, GraphNode] = {}
    for i, d in enumerate(nodes):
        r = _Reader(f"graph[{i}]")
        if not isinstance(d, dict):
            raise r.fail("a graph node must be an object")
        children = r.get(d, "children", list, optional=True) or []
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in children):
            raise r.fail("'children' must be a list of node ids")
        node = GraphNode(r.get(d, "id", int), r.get(d, "name", str), tuple(children),
                         r.get(d, "variable", str, optional=True), r.get(d, "module", str, optional=True),
                         r.get(d, "module_class", str, optional=True))
        table[node.id] = node
    return table


def _sources_from(d: dict[str, Any]) -> dict[str, str]:
    if not all(isinstance(v, str) for v in d.values()):
        raise TimelineFormatError("timeline: each entry of 'sources' must be the text of a file")
    return dict(d)


def timeline_from_json(doc: Any) -> Timeline:
    r = _Reader("timeline")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise TimelineFormatError("not a gradtui timeline (no \"format\": \"gradtui-timeline\" field)")
    version = doc.get("version")
    if version != FORMAT_VERSION:
        raise TimelineFormatError(
            f"timeline format version {version!r} is not supported (this gradtui reads version {FORMAT_VERSION})"
        )
    status = r.get(doc, "status", str)
    if status not in STATUSES:
        raise r.fail(f"unknown status '{status}'")
    err = r.get(doc, "error", dict, optional=True)
    error = None
    if err is not None:
        er = _Reader("timeline.error")
        error = ErrorInfo(er.get(err, "type", str), er.get(err, "message", str),
                          er.get(err, "line", int, optional=True), er.get(err, "file", str, optional=True))
    events = [event_from_json(e, i) for i, e in enumerate(r.get(doc, "events", list))]
    return Timeline(
        script=r.get(doc, "script", str),
        argv=[str(a) for a in r.get(doc, "argv", list)],
        events=events,
        status=status,
        exit_code=r.get(doc, "exit_code", int, optional=True),
        error=error,
        max_values=r.get(doc, "max_values", int, optional=True) or 64,
        torch_version=r.get(doc, "torch_version", str, optional=True),
        graph=_graph_from(r.get(doc, "graph", list, optional=True) or []),
        sources=_sources_from(r.get(doc, "sources", dict, optional=True) or {}),
    )


def load(path: str | os.PathLike[str]) -> Timeline:
    """Read a timeline file; every problem becomes one ``TimelineFormatError`` sentence."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise TimelineFormatError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise TimelineFormatError(f"{p}: is a directory, not a timeline file") from None
    except OSError as exc:
        raise TimelineFormatError(f"{p}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TimelineFormatError(f"{p}: not a timeline (the file is not UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if _looks_cut_short(text):
            raise TimelineFormatError(f"{p}: the file is truncated (it ends before the timeline does)") from None
        raise TimelineFormatError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise TimelineFormatError(f"{p}: not a timeline (JSON nested too deeply)") from None
    try:
        return timeline_from_json(doc)
    except TimelineFormatError as exc:
        raise TimelineFormatError(f"{p}: {exc}") from None
    except (AttributeError, TypeError, KeyError, ValueError, RecursionError) as exc:
        # A field of the wrong shape that the checks above did not name.
        raise TimelineFormatError(f"{p}: malformed timeline ({type(exc).__name__}: {exc})") from None


def _looks_cut_short(text: str) -> bool:
    """A gradtui timeline that starts like one but does not end like one was cut short."""
    head = text.lstrip()[:200]
    return head.startswith("{") and FORMAT_NAME in head and not text.rstrip().endswith("}")
