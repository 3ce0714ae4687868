"""``torch.autograd.grad`` as one event: the gradients it returned, and every ``.grad`` left as it was.

Gradient penalties, meta-learning and physics-informed losses take gradients with
``torch.autograd.grad`` instead of ``backward()``: the gradients come back as values and
no ``.grad`` is written. The function mode (``gradtui.engine.ops``) sees the call, with
``(outputs, inputs)`` already made tuples and every keyword passed (``allow_unused``
already resolved from ``materialize_grads``), and hands it here. As for backward
(``gradtui.engine.backward_hook``), the outputs' graph is recorded before the call and,
when the run records nodes, every node under the outputs is hooked for this call alone
(``BackwardTrace``): torch runs node hooks for ``autograd.grad`` too, never an
``AccumulateGrad``, since nothing is accumulated. With ``create_graph`` the results have
a graph of their own, recorded after the call so that the graph panel can show it.

What this must not do: change the call. The original runs once with the script's own
arguments and its result is returned as is; its errors (a second call through a graph
already freed) reach the script unchanged, and no event is made for a call that failed.
Calls made inside library code (``torch.autograd.functional.jacobian`` calls it per row)
are not the script's and pass through unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import torch

from gradtui.engine.attribution import Attribution
from gradtui.engine.backward_trace import BackwardTrace
from gradtui.engine.capture import TensorCapture
from gradtui.engine.codefilter import CodeKind
from gradtui.engine.graph import GraphRecorder
from gradtui.engine.modules import ModuleLocator
from gradtui.engine.naming import NameIndex, Namer
from gradtui.engine.recorder import Recorder
from gradtui.model.events import GradComputed

_no_torch_function = torch._C.DisableTorchFunction
#: The frame of ``torch.autograd.grad`` itself, between the script's call and the mode.
_GRAD_CODE = getattr(torch.autograd.grad, "__code__", None)

#: The keywords of ``torch.autograd.grad`` after ``(outputs, inputs)``, in its order.
_KEYWORDS = ("grad_outputs", "retain_graph", "create_graph", "only_inputs", "allow_unused",
             "is_grads_batched", "materialize_grads")


class AutogradGrad:
    """Runs the script's ``torch.autograd.grad`` calls and records each as a ``grad`` event.

    ``backwards`` says how many ``backward()`` calls the run has made so far (for the note).
    """

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer,
                 graph: GraphRecorder, modules: ModuleLocator, backwards: Callable[[], int], *,
                 record_nodes: bool) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._graph = graph
        self._modules = modules
        self._backwards = backwards
        #: Record each call node by node, as ``BackwardHook.record_nodes`` does for backward.
        self.record_nodes = record_nodes
        self._calls = 0

    def run(self, func: Callable[..., Any], args: Any, kwargs: Any, caller: FrameType) -> Any:
        frame = self._script_caller(caller)
        if frame is None:
            return func(*args, **kwargs)  # library code's own use (jacobian, hessian…)
        capture, graph_recorder = self._capture, self._graph
        with _no_torch_function():
            call = GradCall(args, kwargs)
            index = self._namer.index(frame)
            outputs = tuple(_name(index, t) for t in call.outputs)
            inputs = tuple(_name(index, t) for t in call.inputs)
            given = tuple(_given_name(index, g, o) for g, o in zip(call.grad_outputs, call.outputs))
            tensors = [t for t in call.outputs if isinstance(t, torch.Tensor)]
            graph = graph_recorder.record(tensors[0], index.name) if tensors else None
            for extra in tensors[1:]:
                graph_recorder.record(extra, index.name)
            # Under is_grads_batched the pass runs inside vmap: its gradients are batched
            # tensors that only the vmap machinery may read, so the nodes are not hooked.
            hooked = ([n for t in tensors for n in graph_recorder.nodes_under(t)]
                      if self.record_nodes and not call.is_grads_batched else [])
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
                result_graphs = tuple(graph_recorder.record(r, index.name) if isinstance(r, torch.Tensor)
                                      else None for r in results)
            notes = self._notes(call, outputs, inputs)
        file, line = self._recorder.at(frame)
        self._recorder.emit(GradComputed, file, line, outputs=outputs, inputs=inputs, grad_outputs=given,
                            results=summaries, create_graph=call.create_graph, retain_graph=call.retain_graph,
                            allow_unused=call.allow_unused, graph=graph, result_graphs=result_graphs,
                            nodes=tuple(trace.runs), notes=notes)
        return out

    def _script_caller(self, caller: FrameType | None) -> FrameType | None:
        """The script's frame that called ``torch.autograd.grad``, through torch's wrappers; else None."""
        kind = self._attribution.filter.kind
        frame = caller
        while frame is not None and (frame.f_code is _GRAD_CODE or kind(frame.f_code.co_filename) is CodeKind.WRAPPER):
            frame = frame.f_back
        if frame is None or kind(frame.f_code.co_filename) is not CodeKind.USER:
            return None
        return frame

    def _notes(self, call: GradCall, outputs: Sequence[str], inputs: Sequence[str]) -> tuple[str, ...]:
        """The one surprise worth a note: a first ``autograd.grad`` where ``.grad`` was expected.

        Said once a run, on its first call, when no ``backward()`` ran before it and the
        call is not building a graph of its gradients (``create_graph``: a gradient
        penalty or a meta-learning step, whose author takes gradients as values on
        purpose). A script that then steps an optimizer without a backward also gets the
        step's own note (nothing to apply).
        """
        self._calls += 1
        if self._calls > 1 or call.create_graph or self._backwards() > 0:
            return ()
        leaves = [(n, t) for n, t in zip(inputs, call.inputs) if isinstance(t, torch.Tensor) and t.is_leaf]
        if not leaves:
            return ()
        states = ", ".join(f"{n}.grad {'is None' if t.grad is None else 'kept its value'}" for n, t in leaves)
        of = ", ".join(outputs) or "the outputs"
        wrt = ", ".join(n for n, _ in leaves)
        return (f"torch.autograd.grad returned the gradient of {of} with respect to {wrt} and wrote no .grad "
                f"({states}): unlike backward(), it only returns gradients, so an optimizer's step() sees them "
                f"only if the script assigns them ({leaves[0][0]}.grad = ...) or calls backward().",)


class GradCall:
    """The arguments of one ``autograd.grad`` call as the function mode passes them on."""

    def __init__(self, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        bound: dict[str, Any] = dict(zip(("outputs", "inputs", *_KEYWORDS), args))
        bound.update(kwargs)
        self.outputs: list[Any] = _sequence(bound.get("outputs"))
        inputs = bound.get("inputs")
        self.inputs: list[Any] = _sequence(list(inputs.values()) if isinstance(inputs, dict) else inputs)
        given = bound.get("grad_outputs")
        self.grad_outputs: list[Any] = _sequence(given)
        self.create_graph = bool(bound.get("create_graph") or False)
        retain = bound.get("retain_graph")
        #: As torch resolves it: it defaults to ``create_graph``.
        self.retain_graph = self.create_graph if retain is None else bool(retain)
        allow_unused, materialize = bound.get("allow_unused"), bool(bound.get("materialize_grads") or False)
        self.allow_unused = materialize if allow_unused is None else bool(allow_unused)
        self.is_grads_batched = bool(bound.get("is_grads_batched") or False)


def _sequence(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, torch.Tensor):
        return [value]
    return list(value)


def _name(index: NameIndex, value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return index.name(value)
    return type(value).__name__  # a GradientEdge


def _given_name(index: NameIndex, value: Any, output: Any) -> str:
    """A ``grad_outputs`` entry by name; an unnamed ``torch.ones_like(out)`` as ``ones_like(out)``."""
    if value is None:
        return "None"
    if not isinstance(value, torch.Tensor):
        return type(value).__name__
    hint = None
    if (isinstance(output, torch.Tensor) and value.shape == output.shape and value.numel() > 0
            and bool((value == 1).all())):
        hint = f"ones_like({index.name(output)})"
    return index.name(value, hint=hint)
