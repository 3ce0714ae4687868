"""One event as a JSON object and back (docs/timeline-format.md, the ``events`` list).

Both directions ``match`` over every kind and end in ``assert_never``, so adding a kind to
``gradtui.model.events.Event`` makes mypy name this module until the kind can be saved and
loaded. Optional fields of older files get the value they meant when they were written
(no ``nodes``: a backward recorded before nodes were). No torch, no textual.
"""

from __future__ import annotations

from typing import Any, assert_never

from gradtui.model.events import (
    HOOK_PLACES,
    MODES,
    STREAMS,
    BackwardDone,
    DetailDropped,
    ErrorRaised,
    Event,
    GradComputed,
    GradHooked,
    GradsClipped,
    GradsUnscaled,
    GradsZeroed,
    LineReached,
    LrScheduled,
    ModeSet,
    NodeRun,
    OpCalled,
    OutputWritten,
    Owner,
    ParamsUpdated,
    RunReviewed,
    ScaleUpdated,
    StepTaken,
    ValueWatched,
    is_kind,
    kind_of,
)
from gradtui.model.json_values import (
    Reader,
    TensorReader,
    TensorWriter,
    changes_from_json,
    changes_to_json,
    number_from_json,
    number_to_json,
    plain_from_json,
    plain_to_json,
    tensor_from_json,
    tensor_to_json,
)
from gradtui.model.scope_json import scope_from_json, scope_to_json

# ---------------------------------------------------------------- writing


def event_to_json(e: Event, raw_values: bool = False, spell: TensorWriter | None = None) -> dict[str, Any]:
    """The event as its v1 JSON object; with ``spell``, each tensor as ``spell`` writes it."""
    raw = raw_values
    tensor: TensorWriter = (lambda t: tensor_to_json(t, raw)) if spell is None else spell
    out: dict[str, Any] = {"seq": e.seq, "kind": kind_of(e), "file": e.file, "line": e.line}
    if e.notes:
        out["notes"] = list(e.notes)
    match e:
        case LineReached():
            out["function"] = e.function
            if e.scope is not None:
                out["scope"] = scope_to_json(e.scope, tensor)
        case OpCalled():
            out.update(op=e.op, grad_fn=e.grad_fn, grad_enabled=e.grad_enabled, args=list(e.args),
                       output=tensor(e.output), graph=e.graph)
            # Written only where set, so that a run without them is spelled as it always was.
            if e.autocast is not None:
                out["autocast"] = e.autocast
            if e.inference:
                out["inference"] = True
        case BackwardDone():
            out.update(root=e.root, loss=number_to_json(e.loss), grads=changes_to_json(e.grads, raw, spell),
                       graph=e.graph, nodes=_nodes_to_json(e.nodes, tensor))
            if e.loss_scale is not None:
                out["loss_scale"] = number_to_json(e.loss_scale)
            if e.inputs:
                out["inputs"] = list(e.inputs)
        case GradComputed():
            out.update(outputs=list(e.outputs), inputs=list(e.inputs), grad_outputs=list(e.grad_outputs),
                       results=[tensor(t) for t in e.results], create_graph=e.create_graph,
                       retain_graph=e.retain_graph, allow_unused=e.allow_unused, graph=e.graph,
                       result_graphs=list(e.result_graphs), nodes=_nodes_to_json(e.nodes, tensor))
        case GradHooked():
            out.update(hook=e.hook, target=e.target, where=e.where, before=[tensor(t) for t in e.before],
                       after=[tensor(t) for t in e.after], changed=e.changed, node=e.node)
        case GradsClipped():
            out.update(function=e.function, max=number_to_json(e.max), norm_type=number_to_json(e.norm_type),
                       total_norm=number_to_json(e.total_norm), coef=number_to_json(e.coef), clipped=e.clipped,
                       grads=changes_to_json(e.grads, raw, spell))
        case GradsUnscaled():
            out.update(scaler=_owner_json(e.scaler), optimizer=_owner_json(e.optimizer),
                       scale=number_to_json(e.scale), found_inf=e.found_inf,
                       grads=changes_to_json(e.grads, raw, spell))
        case ScaleUpdated():
            out.update(scaler=_owner_json(e.scaler), before=number_to_json(e.before),
                       after=number_to_json(e.after), found_inf=e.found_inf)
        case LrScheduled():
            out.update(scheduler=_owner_json(e.scheduler), optimizer=_owner_json(e.optimizer),
                       lrs=[[number_to_json(b), number_to_json(a)] for b, a in e.lrs],
                       changes=[{k: [plain_to_json(b, raw), plain_to_json(a, raw)] for k, (b, a) in g.items()}
                                for g in e.changes])
            if e.constructed:
                out["constructed"] = True
        case ModeSet():
            out.update(target=e.target, cls=e.cls, mode=e.mode)
        case GradsZeroed():
            out.update(optimizer=_owner_json(e.optimizer), grads=changes_to_json(e.grads, raw, spell))
        case StepTaken():
            out.update(
                optimizer=_owner_json(e.optimizer),
                hyperparams=[{k: plain_to_json(v, raw, spell) for k, v in g.items()} for g in e.hyperparams],
                params=changes_to_json(e.params, raw, spell),
                state={n: {k: plain_to_json(v, raw, spell) for k, v in s.items()} for n, s in e.state.items()},
            )
            if e.skipped is not None:
                out["skipped"] = e.skipped
        case ParamsUpdated():
            out.update(op=e.op, args=list(e.args), grad_enabled=e.grad_enabled, through_data=e.through_data,
                       params=changes_to_json(e.params, raw, spell))
        case OutputWritten():
            out.update(stream=e.stream, text=e.text)
        case ErrorRaised():
            out.update(type=e.type, message=e.message, traceback=e.traceback)
        case ValueWatched():
            out.update(name=e.name, value=number_to_json(e.value))
        case RunReviewed():
            pass  # its notes are all it says
        case DetailDropped():
            out.update(first=e.first, last=e.last, first_step=e.first_step, last_step=e.last_step)
        case _:
            assert_never(e)
    return out


def _owner_json(o: Owner) -> dict[str, str]:
    return {"name": o.name, "class": o.cls}


def _nodes_to_json(nodes: tuple[NodeRun, ...], tensor: TensorWriter) -> list[dict[str, Any]]:
    return [{"id": n.id, "name": n.name, "grad_in": [tensor(g) for g in n.grad_in],
             "grad_out": [tensor(g) for g in n.grad_out]} for n in nodes]


# ---------------------------------------------------------------- reading


def _owner(d: Any, where: str, field: str = "optimizer") -> Owner:
    r = Reader(where)
    if not isinstance(d, dict):
        raise r.fail(f"'{field}' must be an object")
    return Owner(r.get(d, "name", str), r.get(d, "class", str))


def _names(r: Reader, d: dict[str, Any], key: str) -> tuple[str, ...]:
    values = r.get(d, key, list, optional=True) or []
    if not all(isinstance(v, str) for v in values):
        raise r.fail(f"'{key}' must be a list of names")
    return tuple(values)


def _float(r: Reader, d: dict[str, Any], key: str, optional: bool = False) -> float | None:
    v = number_from_json(d.get(key))
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise r.fail(f"field '{key}' must be a number" + (" or null" if optional else ""))
    return float(v)


def _tensors(r: Reader, d: dict[str, Any], key: str, read: TensorReader) -> tuple[Any, ...]:
    return tuple(read(t, f"{r.where}.{key}[{i}]") for i, t in enumerate(r.get(d, key, list)))


def _schedule(r: Reader, d: dict[str, Any], base: dict[str, Any]) -> LrScheduled:
    where = r.where
    lrs = []
    for pair in r.get(d, "lrs", list):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise r.fail("each entry of 'lrs' must be [before, after]")
        lrs.append(tuple(None if v is None else _float(Reader(f"{where}.lrs"), {"v": v}, "v") for v in pair))
    changes = []
    for g in r.get(d, "changes", list, optional=True) or []:
        if not isinstance(g, dict) or not all(isinstance(c, list) and len(c) == 2 for c in g.values()):
            raise r.fail("each entry of 'changes' must map names to [before, after]")
        changes.append({k: (plain_from_json(b, where), plain_from_json(a, where)) for k, (b, a) in g.items()})
    return LrScheduled(**base, scheduler=_owner(d.get("scheduler"), where, "scheduler"),
                       optimizer=_owner(d.get("optimizer"), where), lrs=tuple(lrs),  # type: ignore[arg-type]
                       changes=tuple(changes), constructed=bool(r.get(d, "constructed", bool, optional=True)))


def _args(r: Reader, d: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(a) for a in (r.get(d, "args", list, optional=True) or ()))


def _node_runs(runs: list[Any], where: str, read: TensorReader) -> tuple[NodeRun, ...]:
    """A backward's nodes in the order torch ran them (optional: older files have none)."""
    out = []
    for i, d in enumerate(runs):
        r = Reader(f"{where}[{i}]")
        if not isinstance(d, dict):
            raise r.fail("a node must be an object")
        grad_in = r.get(d, "grad_in", list)
        grad_out = r.get(d, "grad_out", list)
        out.append(NodeRun(
            r.get(d, "id", int), r.get(d, "name", str),
            tuple(read(g, f"{where}[{i}].grad_in") for g in grad_in),
            tuple(read(g, f"{where}[{i}].grad_out") for g in grad_out),
        ))
    return tuple(out)


def _step(r: Reader, d: dict[str, Any], base: dict[str, Any], read: TensorReader) -> StepTaken:
    where = r.where
    groups = r.get(d, "hyperparams", list)
    state = r.get(d, "state", dict)
    if not all(isinstance(g, dict) for g in groups):
        raise r.fail("each entry of 'hyperparams' must be an object (one per parameter group)")
    if not all(isinstance(entry, dict) for entry in state.values()):
        raise r.fail("each entry of 'state' must be an object (one per parameter)")
    return StepTaken(
        **base,
        optimizer=_owner(d.get("optimizer"), where),
        hyperparams=tuple({k: plain_from_json(v, f"{where}.hyperparams", read) for k, v in g.items()}
                          for g in groups),
        params=changes_from_json(r.get(d, "params", dict), f"{where}.params", read),
        state={n: {k: plain_from_json(v, f"{where}.state.{n}.{k}", read) for k, v in s.items()}
               for n, s in state.items()},
        skipped=r.get(d, "skipped", str, optional=True),
    )


def event_from_json(d: Any, index: int, read: TensorReader = tensor_from_json) -> Event:
    """The event of a v1 JSON object (at ``index`` in its list); ``read`` turns each tensor back."""
    where = f"events[{index}]"
    r = Reader(where)
    if not isinstance(d, dict):
        raise r.fail("an event must be an object")
    kind = r.get(d, "kind", str)
    if not is_kind(kind):
        raise r.fail(f"unknown event kind '{kind}'")
    seq = r.get(d, "seq", int)
    if seq != index:
        raise r.fail(f"'seq' is {seq}, expected {index}")
    notes = r.get(d, "notes", list, optional=True) or []
    if not all(isinstance(n, str) for n in notes):
        raise r.fail("'notes' must be a list of sentences")
    file, line = r.get(d, "file", str), r.get(d, "line", int)
    if line < 0:
        raise r.fail("'line' must not be negative")
    base: dict[str, Any] = dict(seq=seq, file=file, line=line, notes=tuple(notes))
    match kind:
        case "line":
            scope = d.get("scope")
            return LineReached(**base, function=r.get(d, "function", str, optional=True) or "<module>",
                               scope=None if scope is None else scope_from_json(scope, f"{where}.scope", read))
        case "op":
            return OpCalled(**base, op=r.get(d, "op", str), grad_fn=r.get(d, "grad_fn", str, optional=True),
                            grad_enabled=r.get(d, "grad_enabled", bool), args=_args(r, d),
                            output=read(d.get("output"), f"{where}.output"),
                            graph=r.get(d, "graph", int, optional=True),
                            autocast=r.get(d, "autocast", str, optional=True),
                            inference=bool(r.get(d, "inference", bool, optional=True)))
        case "backward":
            loss = number_from_json(d.get("loss"))
            scale = number_from_json(d.get("loss_scale"))
            is_scale = isinstance(scale, int | float) and not isinstance(scale, bool)
            return BackwardDone(**base, root=r.get(d, "root", str), loss=loss,
                                loss_scale=float(scale) if is_scale else None,
                                grads=changes_from_json(r.get(d, "grads", dict), f"{where}.grads", read),
                                graph=r.get(d, "graph", int, optional=True),
                                nodes=_node_runs(r.get(d, "nodes", list, optional=True) or [], f"{where}.nodes",
                                                 read),
                                inputs=_names(r, d, "inputs"))
        case "grad":
            graphs = r.get(d, "result_graphs", list, optional=True) or []
            if not all(g is None or (isinstance(g, int) and not isinstance(g, bool)) for g in graphs):
                raise r.fail("'result_graphs' must be a list of node ids or nulls")
            return GradComputed(**base, outputs=_names(r, d, "outputs"), inputs=_names(r, d, "inputs"),
                                grad_outputs=_names(r, d, "grad_outputs"), results=_tensors(r, d, "results", read),
                                create_graph=r.get(d, "create_graph", bool),
                                retain_graph=r.get(d, "retain_graph", bool),
                                allow_unused=r.get(d, "allow_unused", bool),
                                graph=r.get(d, "graph", int, optional=True), result_graphs=tuple(graphs),
                                nodes=_node_runs(r.get(d, "nodes", list, optional=True) or [], f"{where}.nodes",
                                                 read))
        case "hook":
            place = r.get(d, "where", str)
            if place not in HOOK_PLACES:
                raise r.fail(f"unknown hook place '{place}'")
            return GradHooked(**base, hook=r.get(d, "hook", str), target=r.get(d, "target", str), where=place,
                              before=_tensors(r, d, "before", read), after=_tensors(r, d, "after", read),
                              changed=r.get(d, "changed", bool), node=r.get(d, "node", int, optional=True))
        case "clip":
            return GradsClipped(**base, function=r.get(d, "function", str), max=_float(r, d, "max") or 0.0,
                                norm_type=_float(r, d, "norm_type", optional=True),
                                total_norm=_float(r, d, "total_norm", optional=True),
                                coef=_float(r, d, "coef", optional=True), clipped=r.get(d, "clipped", bool),
                                grads=changes_from_json(r.get(d, "grads", dict), f"{where}.grads", read))
        case "unscale":
            return GradsUnscaled(**base, scaler=_owner(d.get("scaler"), where, "scaler"),
                                 optimizer=_owner(d.get("optimizer"), where), scale=_float(r, d, "scale") or 0.0,
                                 found_inf=r.get(d, "found_inf", bool),
                                 grads=changes_from_json(r.get(d, "grads", dict), f"{where}.grads", read))
        case "scale":
            return ScaleUpdated(**base, scaler=_owner(d.get("scaler"), where, "scaler"),
                                before=_float(r, d, "before") or 0.0, after=_float(r, d, "after") or 0.0,
                                found_inf=r.get(d, "found_inf", bool))
        case "schedule":
            return _schedule(r, d, base)
        case "mode":
            mode = r.get(d, "mode", str)
            if mode not in MODES:
                raise r.fail(f"unknown mode '{mode}'")
            return ModeSet(**base, target=r.get(d, "target", str), cls=r.get(d, "cls", str), mode=mode)
        case "zero_grad":
            return GradsZeroed(**base, optimizer=_owner(d.get("optimizer"), where),
                               grads=changes_from_json(r.get(d, "grads", dict), f"{where}.grads", read))
        case "step":
            return _step(r, d, base, read)
        case "update":
            return ParamsUpdated(**base, op=r.get(d, "op", str), args=_args(r, d),
                                 grad_enabled=r.get(d, "grad_enabled", bool),
                                 through_data=bool(r.get(d, "through_data", bool, optional=True)),
                                 params=changes_from_json(r.get(d, "params", dict), f"{where}.params", read))
        case "output":
            stream = r.get(d, "stream", str)
            if stream not in STREAMS:
                raise r.fail(f"unknown stream '{stream}'")
            return OutputWritten(**base, stream=stream, text=r.get(d, "text", str))
        case "error":
            return ErrorRaised(**base, type=r.get(d, "type", str), message=r.get(d, "message", str),
                               traceback=r.get(d, "traceback", str, optional=True) or "")
        case "watch":
            value = number_from_json(d.get("value"))
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise r.fail("field 'value' must be a number or null")
            return ValueWatched(**base, name=r.get(d, "name", str), value=value)
        case "review":
            return RunReviewed(**base)
        case "dropped":
            return DetailDropped(**base, first=r.get(d, "first", int), last=r.get(d, "last", int),
                                 first_step=r.get(d, "first_step", int), last_step=r.get(d, "last_step", int))
        case _:
            assert_never(kind)
