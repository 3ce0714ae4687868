"""``backward()`` as one event: the gradients it wrote, the loss, the graph it consumed.

The function mode (``gradtui.engine.ops``) sees ``tensor.backward`` and
``torch.autograd.backward`` called with their arguments and hands the call here. Before
running it, the leaves whose ``.grad`` it will write are found and summarised (and, when
the run records nodes, every node under the roots is hooked, ``BackwardTrace``); after,
the gradients are summarised again and the ``backward`` event goes to the recorder. The
graph's nodes are forgotten once the backward consumed it, so that nothing here keeps a
graph alive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch

from gradtui.engine.attribution import Attribution
from gradtui.engine.backward_trace import BackwardTrace
from gradtui.engine.capture import TensorCapture
from gradtui.engine.graph import GraphRecorder
from gradtui.engine.loss_scale import LossScales
from gradtui.engine.modules import ModuleLocator
from gradtui.engine.naming import Namer
from gradtui.engine.notes import NoteKeeper
from gradtui.engine.recorder import Recorder
from gradtui.engine.tensors import plain_value
from gradtui.engine.untraced import pause_tracing, resume_tracing
from gradtui.model.events import BackwardDone, Change
from gradtui.model.tensors import TensorSummary

_no_torch_function = torch._C.DisableTorchFunction


class BackwardHook:
    """Runs the script's backward calls and records each as a ``backward`` event."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer,
                 graph: GraphRecorder, modules: ModuleLocator, notes: NoteKeeper, loss_scales: LossScales,
                 *, record_nodes: bool) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._graph = graph
        self._modules = modules
        self._notes = notes
        self._loss_scales = loss_scales
        #: Record each backward pass node by node (what stepping into backward shows).
        self.record_nodes = record_nodes
        #: How many backward calls the script has made (``autograd_grad``'s note asks).
        self.count = 0
        #: Called at the first backward (``gc_pauses.StartupFreeze``): the set-up is done by then.
        self.on_first: Callable[[], None] | None = None

    def run(self, func: Callable[..., Any], args: Any, kwargs: Any, caller: FrameType) -> Any:
        trace = pause_tracing()  # the bookkeeping before and after; the backward itself runs the script's hooks
        try:
            call = self._before(func, args, kwargs, caller)
        finally:
            resume_tracing(trace)
        try:
            out = func(*args, **kwargs)
        finally:
            call.trace.close()
        trace = pause_tracing()
        try:
            self._after(call)
        finally:
            resume_tracing(trace)
        return out

    def _before(self, func: Callable[..., Any], args: Any, kwargs: Any, caller: FrameType) -> _Call:
        frame = self._attribution.user_frame(caller)
        capture, namer, graph_recorder = self._capture, self._namer, self._graph
        with _no_torch_function():
            roots = _backward_roots(func, args, kwargs)
            explicit = kwargs.get("inputs")
            leaves = _as_tensors(explicit) if explicit is not None else _reachable_leaves(roots)
            index = namer.index(frame)
            leaves.sort(key=index.rank)
            receiver = namer.receiver(frame) if len(roots) == 1 else None
            root_names = [index.name(r, hint=receiver) for r in roots]
            names = [index.name(leaf) for leaf in leaves]
            # backward(inputs=[...]) restricts the leaves to those, named in the script's order.
            input_names = tuple(index.name(t) for t in _as_tensors(explicit)) if explicit is not None else ()
            before = [capture.summarize(leaf.grad) for leaf in leaves]
            graph = graph_recorder.record(roots[0], index.name) if roots else None
            for extra in roots[1:]:
                graph_recorder.record(extra, index.name)
            hooked = [n for r in roots for n in graph_recorder.nodes_under(r)] if self.record_nodes else []
            trace = BackwardTrace(hooked, capture.summarize_small)
        self.count += 1
        if self.count == 1 and self.on_first is not None:
            self.on_first()
        return _Call(frame, roots, leaves, names, root_names, input_names, before, graph, trace)

    def _after(self, call: _Call) -> None:
        frame, roots, leaves, names, before, trace = (call.frame, call.roots, call.leaves, call.names, call.before,
                                                      call.trace)
        capture, namer, graph_recorder = self._capture, self._namer, self._graph
        with _no_torch_function():
            graph_recorder.forget()  # the graph is consumed: do not keep its nodes alive
            namer.forget_frames()
            self._modules.forget_frame()
            after = [capture.summarize(leaf.grad) for leaf in leaves]
            namer.note_grads(leaves)
            loss, loss_scale = None, None
            if len(roots) == 1 and roots[0].numel() == 1:
                loss = plain_value(roots[0].detach().reshape(-1)[0].item())
                loss_scale = self._loss_scales.scale_of(roots[0])
                if loss_scale is not None and isinstance(loss, float):
                    loss /= loss_scale  # what the script's loss was before GradScaler scaled it
            notes = self._notes.on_backward(names, leaves, before, loss, self._recorder.timeline.events, frame)
        file, line = self._recorder.at(frame)
        grads = {n: Change(b, a) for n, b, a in zip(names, before, after)}
        self._recorder.emit(BackwardDone, file, line, root=", ".join(call.root_names), loss=loss,
                            loss_scale=loss_scale, grads=grads, graph=call.graph, nodes=tuple(trace.runs),
                            inputs=call.input_names,
                            notes=tuple(notes))


@dataclass(slots=True)
class _Call:
    """What is known of one backward call before it runs, for the event made after it."""

    frame: FrameType | None
    roots: list[torch.Tensor]
    leaves: list[torch.Tensor]
    names: list[str]
    root_names: list[str]
    input_names: tuple[str, ...]
    before: list[TensorSummary | None]
    graph: int | None
    trace: BackwardTrace


def _as_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [v for v in value if isinstance(v, torch.Tensor)]


def _backward_roots(func: Any, args: Any, kwargs: Any) -> list[torch.Tensor]:
    if func is torch.Tensor.backward:
        return [args[0]]
    tensors = args[0] if args else kwargs.get("tensors")
    return _as_tensors(tensors) if tensors is not None else []


def _reachable_leaves(roots: list[torch.Tensor]) -> list[torch.Tensor]:
    """Tensors whose ``.grad`` a backward from ``roots`` writes: the graph's AccumulateGrad nodes."""
    leaves: list[torch.Tensor] = []
    seen_leaves: set[int] = set()
    seen: set[Any] = set()
    stack: list[Any] = []
    for root in roots:
        if root.grad_fn is None:
            if root.requires_grad and id(root) not in seen_leaves:
                seen_leaves.add(id(root))
                leaves.append(root)
        else:
            stack.append(root.grad_fn)
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if isinstance(variable, torch.Tensor):
            if id(variable) not in seen_leaves:
                seen_leaves.add(id(variable))
                leaves.append(variable)
            continue
        stack.extend(fn for fn, _ in node.next_functions)
    return leaves
