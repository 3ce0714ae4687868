"""``zero_grad()`` and ``optimizer.step()`` as events: what they did to gradients and parameters.

``gradtui.engine.patches`` wraps ``zero_grad`` and registers torch's global step hooks;
they call in here, in whichever thread the optimizer runs, and only the script's thread
is recorded. A step is two halves: before it (``before_step``) the parameters are
summarised and, for a step without a closure, torch functions are switched off (an Adam
step makes ~100 torch calls that are not the script's ops); after it (``after_step``)
they are summarised again, with the optimizer's state, and the ``step`` event goes to
the recorder. A step that raised never reaches its second half: the line tracer calls
``step_raised`` and what it left behind is dropped. A step ``GradScaler.step`` skipped
(inf/NaN gradients) never calls ``optimizer.step()`` at all, so no hook fires: the
scaler's wrapper (``gradtui.engine.scaler_events``) asks for it with ``record_skipped_step``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch

from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture
from gradtui.engine.hyperparams import hyperparameters
from gradtui.engine.naming import Namer
from gradtui.engine.notes import NoteKeeper
from gradtui.engine.recorder import Recorder
from gradtui.engine.tensors import optimizer_params, state_entry
from gradtui.engine.untraced import pause_tracing, resume_tracing
from gradtui.model.events import Change, GradsZeroed, Owner, StepTaken
from gradtui.model.tensors import TensorSummary

_no_torch_function = torch._C.DisableTorchFunction


class _PendingStep:
    __slots__ = ("optimizer", "file", "line", "params", "names", "before", "owner", "notes", "copies")

    def __init__(self, optimizer: torch.optim.Optimizer, file: str, line: int, params: list[torch.Tensor],
                 names: list[str], before: list[TensorSummary | None], owner: Owner,
                 notes: tuple[str, ...] = ()) -> None:
        self.optimizer = optimizer
        self.file = file
        self.line = line
        self.params = params
        self.names = names
        self.before = before
        self.owner = owner
        self.notes = notes
        #: Copies of the parameters whose values the summaries do not keep, for the update norm.
        self.copies: dict[int, torch.Tensor] = {}


class OptimizerHooks:
    """Records the script's ``zero_grad`` and ``step`` calls."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer,
                 notes: NoteKeeper) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._notes = notes
        self._stepped_classes: set[type] = set()  # optimizer classes whose step() is noted quiet
        self._steps: list[_PendingStep] = []
        self._zero_grad_depth = 0
        #: How many of the script's steps have begun: ``GradScaler.step`` compares it before
        #: and after to know whether ``optimizer.step()`` ran or was skipped.
        self.steps_begun = 0
        #: Entered for an optimizer step that has no closure: nothing in it is the
        #: script's op, and an Adam step makes ~100 torch calls that would each enter
        #: the function mode's Python handler.
        self.step_quiet: Any = None

    # ------------------------------------------------------------------ zero_grad

    def run_zero_grad(self, original: Callable[..., Any], obj: Any, args: Any, kwargs: Any) -> Any:
        if not self._attribution.in_script_thread() or self._zero_grad_depth:
            return original(obj, *args, **kwargs)
        capture, namer = self._capture, self._namer
        trace = pause_tracing()  # the bookkeeping; a zero_grad the script overrides is traced
        try:
            with _no_torch_function():
                frame = self._attribution.user_frame(sys._getframe(1))
                params = optimizer_params(obj) if isinstance(obj, torch.optim.Optimizer) else list(obj.parameters())
                index = namer.index(frame)
                names = [index.name(p) for p in params]
                before = [capture.summarize(p.grad) for p in params]
                owner = Owner(namer.owner_name(obj, frame), type(obj).__name__)
        finally:
            resume_tracing(trace)
        self._zero_grad_depth += 1
        try:
            with _no_torch_function():  # zero_grad's own work is not the script's ops
                result = original(obj, *args, **kwargs)
        finally:
            self._zero_grad_depth -= 1
        trace = pause_tracing()
        try:
            with _no_torch_function():
                after = [capture.summarize(p.grad) for p in params]
            self._notes.on_zero_grad(names)
            file, line = self._recorder.at(frame)
            grads = {n: Change(b, a) for n, b, a in zip(names, before, after)}
            self._recorder.emit(GradsZeroed, file, line, optimizer=owner, grads=grads)
        finally:
            resume_tracing(trace)
        return result

    # ------------------------------------------------------------------ step

    def before_step(self, opt: torch.optim.Optimizer, args: Any = (), kwargs: Any = None) -> None:
        if not self._attribution.in_script_thread():
            return
        self.steps_begun += 1
        # torch passes the step's positional arguments including the optimizer itself.
        positional = args[1:] if args and args[0] is opt else args
        closure = positional[0] if positional else (kwargs or {}).get("closure")
        has_closure = closure is not None
        with _no_torch_function():
            if type(opt) not in self._stepped_classes:
                self._stepped_classes.add(type(opt))
                for cls in type(opt).__mro__:
                    if "step" in cls.__dict__:
                        self._attribution.note_quiet_code(cls.__dict__["step"])
            frame = self._attribution.user_frame(sys._getframe(1))
            params = optimizer_params(opt)
            index = self._namer.index(frame)
            names = [index.name(p) for p in params]
            before = [self._capture.summarize(p) for p in params]
            owner = Owner(self._namer.owner_name(opt, frame), type(opt).__name__)
        file, line = self._recorder.at(frame)
        with _no_torch_function():
            # With a closure (LBFGS) the gradients come from inside the step itself.
            notes = () if has_closure else tuple(self._notes.on_step(names, params, owner.name))
        pending = _PendingStep(opt, file, line, params, names, before, owner, notes)
        with _no_torch_function():
            limit = self._capture.max_values
            pending.copies = {i: self._capture.copy(p) for i, p in enumerate(params)
                              if p.numel() > limit and p.is_floating_point() and p.layout == torch.strided}
        self._steps.append(pending)
        # An LBFGS-style closure runs the script's own code inside the step: keep recording.
        if not has_closure and self.step_quiet is None:
            self.step_quiet = _no_torch_function()
            self.step_quiet.__enter__()

    def step_raised(self) -> None:
        """A step raised: its post-hook will never run, so the script is out of it."""
        self._leave_quiet_step()
        self._steps.clear()

    def _leave_quiet_step(self) -> None:
        quiet, self.step_quiet = self.step_quiet, None
        if quiet is not None:
            quiet.__exit__(None, None, None)

    def after_step(self, opt: torch.optim.Optimizer) -> None:
        if not self._attribution.in_script_thread():
            return
        self._leave_quiet_step()
        # A step that raised never reached its post-hook: drop what it left behind.
        while self._steps and self._steps[-1].optimizer is not opt:
            self._steps.pop()
        if not self._steps:
            return
        pending = self._steps.pop()
        capture = self._capture
        with _no_torch_function():
            params = pending.params
            after = [capture.summarize(p) for p in params]
            state = self._state(opt, params, pending.names)
            hyper = hyperparameters(opt)
            update_norms = _update_norms(pending, capture)
        changes = {n: Change(b, a) for n, b, a in zip(pending.names, pending.before, after)}
        self._recorder.emit(StepTaken, pending.file, pending.line, optimizer=pending.owner, hyperparams=hyper,
                            params=changes, state=state, notes=pending.notes, update_norms=update_norms)

    def record_skipped_step(self, opt: torch.optim.Optimizer, frame: FrameType | None, reason: str,
                            notes: tuple[str, ...]) -> None:
        """A ``step`` event for a step that did not happen: each parameter the same before and after."""
        capture, namer = self._capture, self._namer
        with _no_torch_function():
            params = optimizer_params(opt)
            index = namer.index(frame)
            names = [index.name(p) for p in params]
            now = [capture.summarize(p) for p in params]
            state = self._state(opt, params, names)
            hyper = hyperparameters(opt)
            owner = Owner(namer.owner_name(opt, frame), type(opt).__name__)
        file, line = self._recorder.at(frame)
        changes = {n: Change(s, s) for n, s in zip(names, now)}
        self._recorder.emit(StepTaken, file, line, optimizer=owner, hyperparams=hyper, params=changes, state=state,
                            notes=notes, skipped=reason)

    def _state(self, opt: torch.optim.Optimizer, params: list[torch.Tensor],
               names: list[str]) -> dict[str, dict[str, Any]]:
        state = {}
        for p, name in zip(params, names):
            entry = opt.state.get(p)
            if entry:
                state[name] = state_entry(entry, self._capture.summarize)
        return state


def _update_norms(pending: _PendingStep, capture: TensorCapture) -> dict[str, float]:
    """How far the step moved each large parameter: one subtraction, into the copy, and a norm
    accumulated in float64, each (no temporaries the size of the parameter)."""
    out: dict[str, float] = {}
    for i, before in pending.copies.items():
        p = pending.params[i]
        if p.shape == before.shape:
            moved = torch.sub(p.detach(), before, out=before)
            out[pending.names[i]] = float(torch.linalg.vector_norm(moved, dtype=torch.float64))
        capture.give_back(before)
    pending.copies.clear()
    return out
