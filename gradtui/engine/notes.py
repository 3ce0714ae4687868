"""Plain-language notes on what just happened to the gradients, for the learner.

The timeline says what torch did; these notes say when that is probably not what the
script meant: a ``.grad`` that kept an earlier backward's gradient, a ``step()`` with no
gradient to apply, a parameter that never received one, an update that turned a leaf
into a non-leaf, a NaN and the op it came from, a gradient that exploded or vanished.
Each note is a sentence attached to the event it explains. A note that would repeat on
every iteration of a loop is given once (once per episode, for NaN and gradient norms).

A note must be right when it speaks, so healthy tutorials stay quiet: norms are judged
against the run's own history (``grad_norms``), a step is noted only when it had nothing
at all to apply, and "never received a gradient" is decided when the run is over
(``on_end``), since a parameter unused on some iterations (dynamic_net) is not a bug.

The keeper sees live tensors in the script's thread, during the events it annotates; it
only reads them.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from types import FrameType
from typing import Any

import torch

from gradtui.engine.grad_norms import GradNormLimits, GradNormWatch, GradSize
from gradtui.engine.norms import norms as norms_of
from gradtui.model.events import Event, OpCalled, ParamsUpdated
from gradtui.model.formatting import format_number, format_tensor

__all__ = ["GradNormLimits", "NoteKeeper", "first_non_finite_op"]

NON_LEAF_WARNING = "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed"
FREED_GRAPH_ERROR = "Trying to backward through the graph a second time"
#: At most this many names in one sentence; the rest are counted.
NAMES_SHOWN = 5


class _Stepped:
    """A parameter some optimizer's ``step()`` was given: enough to judge it at the end."""

    __slots__ = ("ref", "name", "optimizer", "requires_grad")

    def __init__(self, param: torch.Tensor, name: str, optimizer: str) -> None:
        self.ref = weakref.ref(param)
        self.name = name
        self.optimizer = optimizer
        self.requires_grad = param.requires_grad


class NoteKeeper:
    """Remembers what it needs across events (which grads a backward left, what was a leaf)."""

    def __init__(self, limits: GradNormLimits | None = None) -> None:
        self.norms = GradNormWatch(limits)
        self._left_by_backward: set[str] = set()  # grads an earlier backward left, not reset since
        self._zeroed: set[str] = set()  # grads zero_grad() reset, no backward since
        self._accumulation_noted: set[str] = set()
        self._ever_had_grad: set[int] = set()  # id() of tensors that received a gradient
        self._stepped: dict[int, _Stepped] = {}  # id() -> a parameter an optimizer stepped
        self._leaves: dict[str, int] = {}  # name -> id() of the tensor that was a leaf under that name
        self._non_leaf_noted: set[str] = set()
        self._non_finite_noted = False  # inside a run of backward passes with NaN or inf
        self._noted_once: set[str] = set()

    @property
    def limits(self) -> GradNormLimits:
        return self.norms.limits

    # ---------------------------------------------------------------- backward

    def on_backward(self, names: Sequence[str], leaves: Sequence[torch.Tensor], before: Sequence[Any],
                    loss: Any, events: Sequence[Event], frame: FrameType | None) -> list[str]:
        notes: list[str] = []
        fresh: list[bool] = []
        for name, leaf, old in zip(names, leaves, before):
            self._ever_had_grad.add(id(leaf))
            kept = name in self._left_by_backward and old is not None
            fresh.append(not kept)
            if kept and name not in self._accumulation_noted and not old.is_all_zero():
                self._accumulation_noted.add(name)
                notes.append(f"{name}.grad still held {format_tensor(old)} from an earlier backward(), and this "
                             "backward() added to it: gradients accumulate until zero_grad() (or .grad = None) "
                             "resets them.")
            self._left_by_backward.add(name)
            self._leaves[name] = id(leaf)
        self._zeroed.difference_update(names)
        # One norm per gradient answers both questions: it is NaN or inf exactly when some
        # element is (or when it overflows, which the explicit check below tells apart).
        norms = norms_of([leaf.grad for leaf in leaves])
        notes += self._non_finite(names, leaves, norms, loss, events)
        notes += self.norms.observe([GradSize(n, norm, _numel(leaf.grad), f)
                                     for n, leaf, norm, f in zip(names, leaves, norms, fresh)])
        notes += self._lost_leaves(frame, names)
        return notes

    def _non_finite(self, names: Sequence[str], leaves: Sequence[torch.Tensor], norms: Sequence[float | None],
                    loss: Any, events: Sequence[Event]) -> list[str]:
        """Said at the first backward with NaN or inf, and again only after a clean one."""
        bad = [n for n, leaf, norm in zip(names, leaves, norms)
               if norm is not None and not math.isfinite(norm) and not _finite(leaf.grad)]
        loss_bad = isinstance(loss, float) and not math.isfinite(loss)
        was_noted, self._non_finite_noted = self._non_finite_noted, bool(bad or loss_bad)
        if not bad and not loss_bad or was_noted:
            return []
        if loss_bad:
            what = f"the loss is {format_number(loss)}"
        else:
            what = f"{', '.join(n + '.grad' for n in bad)} {'holds' if len(bad) == 1 else 'hold'} NaN or inf"
        origin = first_non_finite_op(events)
        where = f"; the first non-finite value came out of {origin}" if origin else ""
        return [f"{what}{where}. Every update from here on carries it."]

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

    # ---------------------------------------------------------------- zero_grad, step, the end

    def on_zero_grad(self, names: Sequence[str]) -> None:
        self._left_by_backward.difference_update(names)
        self._zeroed.update(names)

    def on_step(self, names: Sequence[str], params: Sequence[torch.Tensor], optimizer: str) -> list[str]:
        """A note only when the step had nothing at all to apply (the classic zero_grad-after-backward
        bug); a parameter merely unused on this iteration is normal (dynamic_net), and one unused
        on every iteration is told at the end of the run."""
        for name, p in zip(names, params):
            known = self._stepped.get(id(p))
            if known is None or known.ref() is not p:
                self._stepped[id(p)] = _Stepped(p, name, optimizer)
        if not params or any(self._has_gradient(n, p) for n, p in zip(names, params)):
            return []
        if not self._once(f"without:{optimizer}:{','.join(names)}"):
            return []
        none = all(p.grad is None for p in params)
        why = "(.grad is None)" if none else "(.grad is None, or still zero from zero_grad())"
        who = (f"{_join(list(names))} had no gradient" if len(names) <= 3
               else f"none of its {len(names)} parameters had a gradient")
        return [f"{optimizer or 'the optimizer'}.step() ran while {who} {why}: was backward() called after "
                "zero_grad()?"]

    def _has_gradient(self, name: str, p: torch.Tensor) -> bool:
        grad = p.grad
        if grad is None:
            return False
        # Zeros that zero_grad(set_to_none=False) left, untouched by backward since: nothing to apply.
        return name not in self._zeroed or bool(grad.detach().any())

    def on_end(self, interrupted: bool) -> list[str]:
        """Notes about the whole run, once it is over: parameters that never received a gradient.

        Only an ended run can say "at any point in this run"; an interrupted one says what
        held until then. A parameter that no longer requires grad (frozen on purpose) is
        not told, nor one whose ``.grad`` is set at the end (written by hand, or by
        ``torch.autograd.grad`` and an assignment).
        """
        never: dict[str, list[str]] = {}
        for key, s in self._stepped.items():
            p = s.ref()
            if key in self._ever_had_grad or (p is not None and (p.grad is not None or not p.requires_grad)):
                continue
            if p is None and not s.requires_grad:
                continue
            never.setdefault(s.optimizer, []).append(s.name)
        notes = []
        for optimizer, names in never.items():
            names = list(dict.fromkeys(names))
            one = len(names) == 1
            who = _join(names[:NAMES_SHOWN] + ([f"{len(names) - NAMES_SHOWN} more"] if len(names) > NAMES_SHOWN
                                               else []))
            owner = optimizer or "the optimizer"
            if interrupted:
                notes.append(f"{who} had not received a gradient when the run was interrupted, though "
                             f"{'it is' if one else 'they are'} among {owner}'s parameters.")
            else:
                notes.append(f"{who} {'has' if one else 'have'} not received a gradient at any point in this run, "
                             f"though {'it is' if one else 'they are'} among {owner}'s parameters: not connected "
                             "to the loss (detach, no_grad, or simply unused).")
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
    """``log(x) at line 12``: the earliest op since the last backward whose output held NaN or inf.

    Looks back only over the events still in memory (a recorded run keeps the newest few
    thousand there; one iteration of a training loop is far fewer).
    """
    floor = getattr(events, "first_in_memory", 0)
    start = floor
    for i in range(len(events) - 1, floor - 1, -1):
        if events[i].kind == "backward":
            start = i + 1
            break
    for event in events[start:]:
        if isinstance(event, OpCalled) and event.output is not None and event.output.has_non_finite():
            return f"{event.op}({', '.join(event.args)}) at line {event.line}"
        if isinstance(event, ParamsUpdated):
            # An update by hand is no op event: its parameters' values tell.
            for name, change in (event.params or {}).items():
                if change.after is not None and change.after.has_non_finite():
                    return f"the update of {name} ({event.op}) at line {event.line}"
    return None


def _numel(grad: torch.Tensor | None) -> int:
    return 0 if grad is None else grad.numel()


def _finite(t: torch.Tensor | None) -> bool:
    if t is None:
        return True
    if not t.is_floating_point() and not t.is_complex():
        return True
    return bool(torch.isfinite(t.detach()).all())


def _join(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
