"""Learning-rate schedulers as events: each group's lr (and momentum, betas) before and after.

A scheduler writes its optimizer's ``param_groups`` between steps; without an event the
lr would change silently from one ``step`` event to the next. torch has no hook for
schedulers, so ``step`` and ``__init__`` are wrapped on ``LRScheduler`` and on every
class below it that defines them (torch's, and the script's own, through
``__init_subclass__``), and on ``ReduceLROnPlateau`` where it is not an ``LRScheduler``
(torch before 2.2).

The rules:

* One ``schedule`` event per ``step()`` the script calls, whatever it changed (a
  ``StepLR`` between milestones leaves the lr as it was: that is worth seeing too). Calls
  made inside another scheduler call pass straight through: ``SequentialLR`` and
  ``ChainedScheduler`` stepping their inner schedulers, a subclass's ``super().step()``.
* A scheduler's constructor takes a first step itself (``_initial_step``). That is not a
  call of the script's, and usually changes nothing (``StepLR``, ``CosineAnnealingLR``):
  then there is no event. Some constructors do move the optimizer's values
  (``OneCycleLR`` sets lr to ``max_lr / div_factor`` and momentum or betas to their
  maximum; ``LinearLR`` and ``ConstantLR`` multiply the lr by their start factor;
  ``CyclicLR`` sets ``base_lr``): then the construction is one event, at the line that
  built it, named by the variable it is assigned to, so that the lr of the first
  ``step`` (not the one the optimizer was given) is explained. No note: that is how
  these schedulers are meant to work. The outermost constructor counts, so that
  ``SequentialLR`` resetting and replaying its inner schedulers is judged by its net effect.

Values are read from ``param_groups`` before and after the call; ``changes`` lists the
groups' other keys that moved (keys a scheduler adds for its own bookkeeping, like
``initial_lr``, did not move). The scheduler's own code runs as it would under python
(a ``LambdaLR``'s lambda is the script's code and is traced as such).
"""

from __future__ import annotations

import functools
import linecache
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

import torch
from torch.optim import Optimizer, lr_scheduler

from gradtui.engine.attribution import Attribution
from gradtui.engine.naming import Namer
from gradtui.engine.patches import Patches, all_subclasses
from gradtui.engine.recorder import Recorder
from gradtui.engine.tensors import plain_value
from gradtui.model.events import HyperValue, LrScheduled, Owner

_no_torch_function = torch._C.DisableTorchFunction
_WRAPPED = "__gradtui_scheduler__"
#: ``NAME = Scheduler(...)`` (or ``self.NAME: T = ...``) on the line a construction starts.
_ASSIGNED = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?::[^=]+)?=(?!=)")

Groups = list[dict[str, Any]]


def scheduler_roots() -> list[type]:
    """``LRScheduler``, and ``ReduceLROnPlateau`` where it is not one of its subclasses."""
    roots: list[type] = [lr_scheduler.LRScheduler]
    plateau = getattr(lr_scheduler, "ReduceLROnPlateau", None)
    if isinstance(plateau, type) and not issubclass(plateau, lr_scheduler.LRScheduler):  # pragma: no cover
        roots.append(plateau)
    return roots


class Schedulers:
    """Wraps the schedulers' ``step`` and ``__init__`` for one run (a ``PatchSet``)."""

    def __init__(self, recorder: Recorder, attribution: Attribution, namer: Namer) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._namer = namer
        self._depth = 0
        self._patches: Patches | None = None

    # ------------------------------------------------------------------ patching

    def install(self, patches: Patches) -> None:
        self._patches = patches
        for root in scheduler_roots():
            for cls in [root, *all_subclasses(root)]:
                self.wrap_class(cls)
            patches.watch_new_subclasses(root, self.wrap_class)

    def wrap_class(self, cls: type) -> None:
        """Wrap ``step`` and ``__init__`` where ``cls`` itself defines them."""
        patches = self._patches
        if patches is None:
            return
        for name in ("step", "__init__"):
            original = cls.__dict__.get(name)
            if not callable(original) or getattr(original, _WRAPPED, False):
                continue
            patches.set_class_attr(cls, name, self._wrapper(name, original))

    def _wrapper(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        run = self._step if name == "step" else self._construct

        @functools.wraps(original)
        def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
            return run(original, obj, args, kwargs)

        setattr(wrapper, _WRAPPED, True)
        return wrapper

    # ------------------------------------------------------------------ calls

    def _step(self, original: Callable[..., Any], sched: Any, args: Any, kwargs: Any) -> Any:
        if self._depth or not self._attribution.in_script_thread():
            return original(sched, *args, **kwargs)
        # A constructor's own first step is normally inside its wrapped ``__init__`` (and
        # passes through); one reached otherwise is told as a construction all the same.
        return self._run(original, sched, args, kwargs, getattr(sched, "optimizer", None),
                         constructed=_is_initial_step(sched))

    def _construct(self, original: Callable[..., Any], sched: Any, args: Any, kwargs: Any) -> Any:
        if self._depth or not self._attribution.in_script_thread():
            return original(sched, *args, **kwargs)
        return self._run(original, sched, args, kwargs, _optimizer_among(args, kwargs), constructed=True)

    def _run(self, original: Callable[..., Any], sched: Any, args: Any, kwargs: Any,
             optimizer: Any, *, constructed: bool) -> Any:
        with _no_torch_function():
            before = _groups(optimizer)
        self._depth += 1
        try:
            result = original(sched, *args, **kwargs)
        finally:
            self._depth -= 1
        optimizer = getattr(sched, "optimizer", optimizer)
        if not isinstance(optimizer, Optimizer):
            return result
        with _no_torch_function():
            after = _groups(optimizer)
        if len(before) != len(after):
            return result
        lrs = tuple((_lr(b), _lr(a)) for b, a in zip(before, after))
        changes = _moved(before, after)
        if constructed and not any(changes) and all(b == a for b, a in lrs):
            return result  # a constructor that left the optimizer as it was
        frame = self._attribution.user_frame(sys._getframe(1))
        cls = type(sched).__name__
        name = (_assigned_name(frame) if constructed else None) or self._namer.owner_name(sched, frame)
        owner = Owner(name, cls)
        opt_owner = Owner(self._namer.owner_name(optimizer, frame), type(optimizer).__name__)
        file, line = self._recorder.at(frame)
        self._recorder.emit(LrScheduled, file, line, scheduler=owner, optimizer=opt_owner, lrs=lrs,
                            changes=changes if any(changes) else (), constructed=constructed)
        return result


def _is_initial_step(sched: Any) -> bool:
    if getattr(sched, "_is_initial", False):
        return True
    caller = sys._getframe(3)  # _step <- wrapper <- the code that called step()
    return caller.f_code.co_name == "_initial_step" and caller.f_locals.get("self") is sched


def _optimizer_among(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Optimizer | None:
    """The optimizer a constructor was given: directly, or through its inner schedulers."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, Optimizer):
            return value
    for value in (*args, *kwargs.values()):
        if isinstance(value, (list, tuple)):
            for inner in value:
                opt = getattr(inner, "optimizer", None)
                if isinstance(opt, Optimizer):
                    return opt
    return None


def _groups(optimizer: Any) -> Groups:
    if not isinstance(optimizer, Optimizer):
        return []
    return [{k: plain_value(v) for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def _lr(group: Mapping[str, Any]) -> float | None:
    value = group.get("lr")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _moved(before: Groups, after: Groups) -> tuple[dict[str, tuple[HyperValue, HyperValue]], ...]:
    """Per group, the keys other than ``lr`` that were there before and hold another value now."""
    return tuple({k: (b[k], a[k]) for k in b if k != "lr" and k in a and b[k] != a[k]} for b, a in zip(before, after))


def _assigned_name(frame: FrameType | None) -> str | None:
    if frame is None:
        return None
    match = _ASSIGNED.match(linecache.getline(frame.f_code.co_filename, frame.f_lineno))
    return match.group(1) if match else None
