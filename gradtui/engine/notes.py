"""Plain-language notes on what just happened to the gradients, for the learner.

The timeline says what torch did; these notes say when that is probably not what the
script meant: a ``.grad`` that kept an earlier backward's gradient, a ``step()`` with no
gradient to apply, an update that turned a leaf into a non-leaf, a NaN and the op it came
from, a gradient that exploded or vanished. Each note is a sentence attached to the event
it explains. A note that would repeat on every iteration of a loop is given once.

The keeper sees live tensors in the script's thread, during the events it annotates; it
only reads them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch

from gradtui.model.events import Event, OpCalled
from gradtui.model.formatting import format_number, format_tensor

NON_LEAF_WARNING = "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed"
FREED_GRAPH_ERROR = "Trying to backward through the graph a second time"


@dataclass(frozen=True, slots=True)
class GradNormLimits:
    """A gradient norm above ``above`` has exploded; one below ``below`` (but not 0) vanished."""

    above: float = 1e4
    below: float = 1e-8


class NoteKeeper:
    """Remembers what it needs across events (which grads a backward left, what was a leaf)."""

    def __init__(self, limits: GradNormLimits | None = None) -> None:
        self.limits = limits or GradNormLimits()
        self._left_by_backward: set[str] = set()  # grads an earlier backward left, not reset since
        self._accumulation_noted: set[str] = set()
        self._ever_had_grad: set[int] = set()  # id() of parameters that received a gradient
        self._leaves: dict[str, int] = {}  # name -> id() of the tensor that was a leaf under that name
        self._non_leaf_noted: set[str] = set()
        self._noted_once: set[str] = set()

    # ---------------------------------------------------------------- backward

    def on_backward(self, names: Sequence[str], leaves: Sequence[torch.Tensor], before: Sequence[Any],
                    loss: Any, events: Sequence[Event], frame: FrameType | None) -> list[str]:
        notes: list[str] = []
        for name, leaf, old in zip(names, leaves, before):
            self._ever_had_grad.add(id(leaf))
            accumulated = name in self._left_by_backward and old is not None and not old.is_all_zero()
            if accumulated and name not in self._accumulation_noted:
                self._accumulation_noted.add(name)
                notes.append(f"{name}.grad still held {format_tensor(old)} from an earlier backward(), and this "
                             "backward() added to it: gradients accumulate until zero_grad() (or .grad = None) "
                             "resets them.")
            self._left_by_backward.add(name)
            self._leaves[name] = id(leaf)
        # One norm per gradient answers both questions: it is NaN or inf exactly when some
        # element is (or when it overflows, which the explicit check below tells apart).
        norms = [_norm(leaf.grad) for leaf in leaves]
        notes += self._non_finite(names, leaves, norms, loss, events)
        notes += self._norms(names, norms)
        notes += self._lost_leaves(frame, names)
        return notes

    def _non_finite(self, names: Sequence[str], leaves: Sequence[torch.Tensor], norms: Sequence[float | None],
                    loss: Any, events: Sequence[Event]) -> list[str]:
        bad = [n for n, leaf, norm in zip(names, leaves, norms)
               if norm is not None and not math.isfinite(norm) and not _finite(leaf.grad)]
        loss_bad = isinstance(loss, float) and not math.isfinite(loss)
        if not bad and not loss_bad:
            return []
        if loss_bad:
            what = f"the loss is {format_number(loss)}"
        else:
            what = f"{', '.join(n + '.grad' for n in bad)} {'holds' if len(bad) == 1 else 'hold'} NaN or inf"
        origin = first_non_finite_op(events)
        where = f"; the first non-finite value came out of {origin}" if origin else ""
        return [f"{what}{where}. Every update from here on carries it."]

    def _norms(self, names: Sequence[str], norms: Sequence[float | None]) -> list[str]:
        notes = []
        for name, norm in zip(names, norms):
            if norm is None or not math.isfinite(norm):
                continue
            if norm > self.limits.above:
                notes.append(f"{name}.grad has norm {format_number(norm)}, above {format_number(self.limits.above)}: "
                             "the gradient exploded (a smaller learning rate, gradient clipping or "
                             "normalised inputs usually help).")
            elif 0 < norm < self.limits.below:
                notes.append(f"{name}.grad has norm {format_number(norm)}, below {format_number(self.limits.below)}: "
                             "the gradient vanished, so this parameter barely moves.")
        return notes

    def _lost_leaves(self, frame: FrameType | None, current: Sequence[str]) -> list[str]:
        """Names that were leaves at an earlier backward and now hold a computed tensor."""
        if frame is None:
            return []
        notes = []
        for name in list(self._leaves):
            if name in current or name in self._non_leaf_noted:
                continue
            value = frame.f_locals.get(name, frame.f_globals.get(name))
            if isinstance(value, torch.Tensor) and value.grad_fn is not None and id(value) != self._leaves[name]:
                self._non_leaf_noted.add(name)
                notes.append(f"{name} is no longer a leaf: it was reassigned the result of an operation made with "
                             f"gradients on (grad_fn {type(value.grad_fn).__name__}), so its .grad stays None. "
                             f"Update it inside torch.no_grad() and set {name}.requires_grad = True again, "
                             "or let an optimizer do the update.")
        return notes

    # ---------------------------------------------------------------- zero_grad, step

    def on_zero_grad(self, names: Sequence[str]) -> None:
        self._left_by_backward.difference_update(names)

    def on_step(self, names: Sequence[str], params: Sequence[torch.Tensor], optimizer: str) -> list[str]:
        missing = [(n, p) for n, p in zip(names, params) if p.grad is None]
        if not missing:
            return []
        never = [n for n, p in missing if id(p) not in self._ever_had_grad]
        notes = []
        if never and self._once("never:" + ",".join(never)):
            notes.append(f"{_join(never)} {'has' if len(never) == 1 else 'have'} not received a gradient at any "
                         f"point in this run, though {optimizer} updates {'it' if len(never) == 1 else 'them'}: "
                         "not connected to the loss (detach, no_grad, or simply unused).")
        without = [n for n, _ in missing if n not in never]
        if without and self._once("without:" + ",".join(without)):
            notes.append(f"{optimizer}.step() ran while {_join(without)} had no gradient (.grad is None): "
                         "was backward() called after zero_grad()?")
        return notes

    # ---------------------------------------------------------------- output, errors

    def on_output(self, text: str) -> list[str]:
        if NON_LEAF_WARNING in text and self._once("non-leaf .grad"):
            return ["That tensor is not a leaf (it was computed from others), so torch does not keep its .grad: it "
                    "reads None. Call .retain_grad() on it before backward() to keep it."]
        return []

    def on_error(self, message: str) -> list[str]:
        if FREED_GRAPH_ERROR in message:
            return ["The first backward() freed the graph's saved values. Recompute the loss before the next "
                    "backward(), or pass retain_graph=True to the first one if you really need both."]
        return []

    def _once(self, key: str) -> bool:
        if key in self._noted_once:
            return False
        self._noted_once.add(key)
        return True


def first_non_finite_op(events: Sequence[Event]) -> str | None:
    """``log(x) at line 12``: the earliest op since the last backward whose output held NaN or inf."""
    start = 0
    for i in range(len(events) - 1, -1, -1):
        if events[i].kind == "backward":
            start = i + 1
            break
    for event in events[start:]:
        if isinstance(event, OpCalled) and event.output is not None and event.output.has_non_finite():
            return f"{event.op}({', '.join(event.args)}) at line {event.line}"
    return None


def _norm(grad: torch.Tensor | None) -> float | None:
    if grad is None or not grad.is_floating_point() or grad.numel() == 0:
        return None
    return float(torch.linalg.vector_norm(grad.detach()))


def _finite(t: torch.Tensor | None) -> bool:
    if t is None:
        return True
    if not t.is_floating_point() and not t.is_complex():
        return True
    return bool(torch.isfinite(t.detach()).all())


def _join(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
