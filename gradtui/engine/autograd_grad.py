"""``torch.autograd.grad`` as one event: the gradients it returned, and that ``.grad`` stayed as it was.

The function mode (``gradtui.engine.ops``) sees ``torch.autograd.grad`` as a torch
function, called with ``(outputs, inputs)`` and every keyword resolved, and hands the
call here. As for ``backward`` (``gradtui.engine.backward_hook``), the outputs' graph is
recorded before the call and, when the run records nodes, every node under the outputs
is hooked for the call alone (``BackwardTrace``); torch runs the node hooks for
``autograd.grad`` too, but never an ``AccumulateGrad``, because nothing is accumulated.

What this must not do: change the call. The original runs once with the script's own
arguments, its result is returned as is, and its errors (a second call on a graph
already freed) reach the script unchanged, with no event.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType
from typing import Any

import torch

from gradtui.engine.attribution import Attribution
from gradtui.engine.backward_trace import BackwardTrace
from gradtui.engine.capture import TensorCapture
from gradtui.engine.graph import GraphRecorder
from gradtui.engine.modules import ModuleLocator
from gradtui.engine.naming import Namer
from gradtui.engine.recorder import Recorder
from gradtui.model.events import GradComputed

_no_torch_function = torch._C.DisableTorchFunction

#: Said on the first ``autograd.grad`` of a run: its results are returned, not stored.
UNTOUCHED_NOTE = (
    "torch.autograd.grad returns the gradients and leaves every .grad untouched "
    "(unlike backward, which accumulates into .grad): an optimizer step sees none of them "
    "unless the script assigns them"
)


class AutogradGrad:
    """Runs the script's ``torch.autograd.grad`` calls and records each as a ``grad`` event."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer,
                 graph: GraphRecorder, modules: ModuleLocator, *, record_nodes: bool) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._graph = graph
        self._modules = modules
        #: Record each call node by node, as ``BackwardHook.record_nodes`` does for backward.
        self.record_nodes = record_nodes
        #: Whether this run was told yet that ``.grad`` stays untouched.
        self._noted = False

    def run(self, func: Callable[..., Any], args: Any, kwargs: Any, caller: FrameType) -> Any:
        frame = self._attribution.user_frame(caller)
        capture, graph_recorder = self._capture, self._graph
        with _no_torch_function():
            call = _GradCall(args, kwargs)
            index = self._namer.index(frame)
            output_names = tuple(index.name(t) for t in call.outputs)
            input_names = tuple(index.name(t) for t in call.inputs)
            given_names = tuple(index.name(t) if isinstance(t, torch.Tensor) else "None" for t in call.grad_outputs)
            graph = graph_recorder.record(call.outputs[0], index.name) if call.outputs else None
            for extra in call.outputs[1:]:
                graph_recorder.record(extra, index.name)
            hooked = ([n for t in call.outputs for n in graph_recorder.nodes_under(t)]
                      if self.record_nodes else [])
            trace = BackwardTrace(hooked, capture.summarize_small)
        try:
            out = func(*args, **kwargs)
        finally:
            trace.close()
        with _no_torch_function():
            if not call.retain_graph:
                graph_recorder.forget()  # the graph is consumed: do not keep its nodes alive
            self._namer.forget_frames()
            self._modules.forget_frame()
            results = list(out.values()) if isinstance(out, dict) else list(out)
            summaries = tuple(capture.summarize(r) for r in results)
            result_graphs: tuple[int | None, ...] = ()
            if call.create_graph:
                result_graphs = tuple(graph_recorder.record(r, index.name) if isinstance(r, torch.Tensor) else None
                                      for r in results)
        notes: tuple[str, ...] = ()
        if not self._noted:
            self._noted = True
            notes = (UNTOUCHED_NOTE,)
        file, line = self._recorder.at(frame)
        self._recorder.emit(GradComputed, file, line, outputs=output_names, inputs=input_names,
                            grad_outputs=given_names, results=summaries, create_graph=call.create_graph,
                            retain_graph=call.retain_graph, allow_unused=call.allow_unused, graph=graph,
                            result_graphs=result_graphs, nodes=tuple(trace.runs), notes=notes)
        return out


class _GradCall:
    """The arguments of one ``autograd.grad`` call, resolved as torch resolves them."""

    def __init__(self, args: Any, kwargs: Any) -> None:
        names = ("outputs", "inputs", "grad_outputs", "retain_graph", "create_graph", "only_inputs",
                 "allow_unused", "is_grads_batched", "materialize_grads")
        bound = dict(zip(names, args))
        bound.update(kwargs)
        self.outputs = _tensors(bound.get("outputs"))
        inputs = bound.get("inputs")
        self.inputs = _tensors(list(inputs.values()) if isinstance(inputs, dict) else inputs)
        given = bound.get("grad_outputs")
        self.grad_outputs: list[Any] = ([] if given is None else [given] if isinstance(given, torch.Tensor)
                                        else list(given))
        self.create_graph = bool(bound.get("create_graph", False))
        retain = bound.get("retain_graph")
        self.retain_graph = self.create_graph if retain is None else bool(retain)
        allow_unused = bound.get("allow_unused")
        materialize = bool(bound.get("materialize_grads", False))
        self.allow_unused = materialize if allow_unused is None else bool(allow_unused)


def _tensors(value: Any) -> list[torch.Tensor]:
    if value is None:
        return []
    if isinstance(value, torch.Tensor):
        return [value]
    return [v for v in value if isinstance(v, torch.Tensor)]
