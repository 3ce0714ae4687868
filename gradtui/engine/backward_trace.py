"""Watching one backward pass node by node: what flows into each node and what it sends on.

torch runs a backward pass as a walk over the graph's nodes, each receiving the gradient
of its outputs and sending gradients to its inputs. A post-hook on every node of the
graph (``Node.register_hook``) sees exactly that, in the order torch runs the nodes, with
the very tensors it passes along. The hooks are added for one call of backward and
removed after it, whatever happens; they only read, never change, a gradient.

What a node received is read after the script's own hooks on that gradient ran (torch
runs a tensor's ``register_hook`` hooks, then the node's pre-hooks, the node, its
post-hooks), so ``grad_in`` is what the node really got, hook changes included. An
``AccumulateGrad`` is read in a pre-hook instead: it stores the very tensor it received
as ``.grad``, and a post-accumulate-grad hook that changes ``.grad`` in place runs
before the post-hooks, so a post-hook would see the hook's value as if received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from gradtui.model.events import NodeRun
from gradtui.model.tensors import TensorSummary

Summarize = Callable[[object], "TensorSummary | None"]


class BackwardTrace:
    """Hooks ``nodes`` (``(table id, autograd node)`` pairs) until ``close()``; ``runs`` fills in order."""

    def __init__(self, nodes: Iterable[tuple[int, Any]], summarize: Summarize) -> None:
        self.runs: list[NodeRun] = []
        self._summarize = summarize
        self._handles: list[Any] = []
        for node_id, node in nodes:
            name = type(node).__name__
            early: list[tuple[TensorSummary | None, ...]] | None = [] if name == "AccumulateGrad" else None
            try:
                if early is not None:
                    self._handles.append(node.register_prehook(self._prehook(early)))
                self._handles.append(node.register_hook(self._hook(node_id, name, early)))
            except (RuntimeError, AttributeError, TypeError):  # a node that takes no hooks
                continue

    def _prehook(self, early: list[tuple[TensorSummary | None, ...]]) -> Callable[[Any], None]:
        def prehook(grad_outputs: Any) -> None:
            with torch._C.DisableTorchFunction():
                early.append(tuple(self._summarize(g) for g in grad_outputs))

        return prehook

    def _hook(self, node_id: int, name: str,
              early: list[tuple[TensorSummary | None, ...]] | None) -> Callable[[Any, Any], None]:
        def hook(grad_inputs: Any, grad_outputs: Any) -> None:
            with torch._C.DisableTorchFunction():
                # torch's grad_outputs flow into the node; its grad_inputs go on to its inputs.
                received = early.pop() if early else tuple(self._summarize(g) for g in grad_outputs)
                sent = tuple(self._summarize(g) for g in grad_inputs)
            self.runs.append(NodeRun(node_id, name, received, sent))

        return hook

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
