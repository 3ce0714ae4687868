"""One run of a user's script under the engine: the thread it runs in and the controller.

A ``Session`` runs the script exactly as ``python SCRIPT ARGS`` would (as ``__main__``,
with its ``sys.argv``, ``__file__`` and folder on ``sys.path``) in a worker thread, and
turns what happens into events appended to ``timeline``. The script's thread emits
events and waits at the ``Gate`` between them; the driver's thread (the TUI, the
headless recorder, a test) sends commands and never runs script code. The session never
calls its driver except through the ``sink`` callable, which receives each event in the
script's thread and must not block.

How a run ends is always written to the timeline (``finished``, ``error``, ``exited``,
``interrupted``), and every event recorded before the end is kept.
"""

from __future__ import annotations

import builtins
import gc
import linecache
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Sequence
from types import CodeType, FrameType
from typing import Any

import torch

from gradtui.engine import tracebacks
from gradtui.engine.backward_trace import BackwardTrace
from gradtui.engine.capture import (
    DEFAULT_BUDGET_BYTES,
    DEFAULT_MAX_VALUES,
    TensorCapture,
    grad_fn_name,
    return_freed_memory_promptly,
)
from gradtui.engine.codefilter import CodeFilter, CodeKind
from gradtui.engine.control import Gate, StopScript
from gradtui.engine.forking import ForkGuard
from gradtui.engine.graph import GraphRecorder
from gradtui.engine.hyperparams import hyperparameters
from gradtui.engine.loss_scale import LossScales
from gradtui.engine.modules import ModuleLocator
from gradtui.engine.naming import Namer
from gradtui.engine.notes import GradNormLimits, NoteKeeper
from gradtui.engine.ops import OpRecorder
from gradtui.engine.patches import Patches
from gradtui.engine.script import Script
from gradtui.engine.streams import StreamRouter
from gradtui.engine.tensors import describe_args, first_tensor, optimizer_params, plain_value, state_entry
from gradtui.engine.updates import ManualUpdates
from gradtui.engine.warning_location import WarningRelocator
from gradtui.engine.watch import WatchList
from gradtui.model.events import (
    BackwardDone,
    Change,
    ErrorRaised,
    Event,
    GradsZeroed,
    LineReached,
    OpCalled,
    OutputWritten,
    Owner,
    ParamsUpdated,
    RunReviewed,
    StepTaken,
    ValueWatched,
)
from gradtui.model.navigation import Command, Continue, NextEvent, NextLine, Pause, StepOp
from gradtui.model.stops import EventStop
from gradtui.model.timeline import ErrorInfo, Timeline

EventSink = Callable[[Event], None]
#: Called in the script's thread with input()'s prompt; blocks until the answer, or returns
#: None for end of input (or when the driver is stopping the script).
InputHandler = Callable[[str], "str | None"]

_USER = CodeKind.USER
_WRAPPER = CodeKind.WRAPPER
_STOPPERS = (CodeKind.ENGINE, CodeKind.QUIET)
_no_torch_function = torch._C.DisableTorchFunction


class _PendingStep:
    __slots__ = ("optimizer", "file", "line", "params", "names", "before", "owner", "notes")

    def __init__(self, optimizer: Any, file: str, line: int, params: list[torch.Tensor], names: list[str],
                 before: list[Any], owner: Owner, notes: tuple[str, ...] = ()) -> None:
        self.optimizer = optimizer
        self.file = file
        self.line = line
        self.params = params
        self.names = names
        self.before = before
        self.owner = owner
        self.notes = notes


class Session:
    """Runs ``script`` in a worker thread; drive it with the command methods below."""

    def __init__(
        self,
        script: Script,
        args: Sequence[str] = (),
        *,
        sink: EventSink | None = None,
        echo_output: bool = False,
        start_paused: bool = False,
        max_values: int = DEFAULT_MAX_VALUES,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        watch: Sequence[str] = (),
        input_handler: InputHandler | None = None,
        grad_norm_limits: GradNormLimits | None = None,
        stops: tuple[EventStop, ...] = (),
        record_nodes: bool = True,
    ) -> None:
        self.script = script
        self.filter = CodeFilter(script.path)
        self.capture = TensorCapture(max_values=max_values, budget_bytes=budget_bytes)
        self.namer = Namer(lambda f: self.filter.kind(f.f_code.co_filename) is _USER,
                           lambda t: self.updates.alias_owner(t))
        self.timeline = Timeline(script=script.path, argv=[script.path, *args], max_values=max_values,
                                 torch_version=torch.__version__)
        self.graph = GraphRecorder(self.timeline.graph)
        self.modules = ModuleLocator()
        self.watch = WatchList(watch)
        self.notes = NoteKeeper(grad_norm_limits)
        #: Tensors that ``GradScaler.scale`` returned, with the factor it multiplied by.
        self.loss_scales = LossScales()
        self.updates = ManualUpdates(self)
        #: Record each backward pass node by node (what stepping into backward shows).
        self.record_nodes = record_nodes
        #: Answers the script's ``input()`` (the app asks the user); None: read stdin as usual.
        self.input_handler = input_handler
        self.gate = Gate(Pause() if start_paused else Continue(stops=stops))
        self.router = StreamRouter(self._on_output, echo=echo_output)
        self._forks = ForkGuard(self, self._is_engine_file)
        self._sink = sink
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._done = threading.Event()
        self._where: tuple[str, int] = (self.filter.display(script.path), 0)
        self._quiet_codes: set[CodeType] = set()
        self._stepped_classes: set[type] = set()  # optimizer classes whose step() is noted quiet
        self._steps: list[_PendingStep] = []
        self._zero_grad_depth = 0
        self._notes: set[str] = set()
        #: Entered for an optimizer step that has no closure: nothing in it is the
        #: script's op, and an Adam step makes ~100 torch calls that would each enter
        #: the function mode's Python handler.
        self._step_quiet: Any = None

    # ------------------------------------------------------------------ driver side

    def start(self) -> None:
        return_freed_memory_promptly()
        self._thread = threading.Thread(target=self._run, name="gradtui-script", daemon=True)
        self._thread.start()

    def send(self, command: Command) -> None:
        self.gate.send(command)

    def step_op(self) -> None:
        self.send(StepOp())

    def next_line(self) -> None:
        self.send(NextLine())

    def next_event(self) -> None:
        self.send(NextEvent())

    def continue_(self, breakpoints: Iterable[tuple[str, int]] = ()) -> None:
        self.send(Continue(frozenset(breakpoints)))

    def stop(self) -> None:
        """Ask the script to end at its next event or line; it ends as ``interrupted``."""
        self.gate.stop()

    def wait(self, timeout: float) -> bool:
        """Wait until the script pauses or ends; False if ``timeout`` seconds passed first."""
        return self.gate.wait_paused(timeout, self._done.is_set)

    def join(self, timeout: float) -> bool:
        """Wait until the script's thread has ended, not merely finished the script.

        A thread still tearing down while the interpreter exits makes torch's C++ runtime
        abort ("terminate called without an active exception"), so drivers join fully.
        """
        deadline = time.monotonic() + timeout
        if not self._done.wait(timeout):
            return False
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            return not self._thread.is_alive()
        return True

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def paused_at(self) -> Event | None:
        return self.gate.paused_at

    def mark_interrupted(self) -> None:
        """Called by a driver that gives up waiting for a stuck script (a long C operation)."""
        if not self._done.is_set():
            try:
                self.router.flush_all()  # pending output is appended before the gate's stop check
            except StopScript:
                pass
            self.timeline.status = "interrupted"
            self.timeline.exit_code = 130

    # ------------------------------------------------------------------ events

    def _emit(self, cls: type[Event], file: str, line: int, **fields: Any) -> None:
        self.router.flush_all()  # what was printed before this event comes before it
        self._publish(cls(seq=len(self.timeline.events), file=file, line=line, **fields))

    def _publish(self, event: Event) -> None:
        self.timeline.events.append(event)
        if self._sink is not None:
            self._sink(event)
        self.gate.passing(event)

    def _on_output(self, stream: str, text: str) -> None:
        file, line = self._where
        notes = tuple(self.notes.on_output(text)) if stream == "stderr" else ()
        self._publish(OutputWritten(seq=len(self.timeline.events), file=file, line=line, stream=stream, text=text,
                                    notes=notes))

    def _at(self, frame: FrameType | None) -> tuple[str, int]:
        if frame is None:
            return self._where
        return self.filter.display(frame.f_code.co_filename), frame.f_lineno

    # ------------------------------------------------------------------ the script's thread

    def _run(self) -> None:
        self._thread_id = threading.get_ident()
        script = self.script
        main = types.ModuleType("__main__")
        main.__dict__.update(__file__=script.code.co_filename, __builtins__=builtins, __spec__=None,
                             __package__=None, __cached__=None)
        saved_argv, saved_main = sys.argv, sys.modules.get("__main__")
        sys.argv = list(self.timeline.argv)
        sys.path.insert(0, script.folder)
        sys.modules["__main__"] = main
        self.router.install(self._thread_id)
        status, code, error, error_event = "finished", 0, None, None
        try:
            patches = Patches(self)
            relocator = WarningRelocator(self._in_script_thread, self._is_engine_file, self.user_frame)
            patches.install()
            relocator.install()
            self.namer.install()
            self._forks.install()
            # torch's ~160k import-time objects live as long as the process: freezing them
            # keeps every full collection during the run from scanning them again (the
            # engine allocates per event; without this a capture cost ~8x more).
            gc.freeze()
            try:
                with OpRecorder(self), self.modules.installed():
                    sys.settrace(self._trace_call)
                    try:
                        self._forks.run_script(lambda: exec(script.code, main.__dict__))
                    finally:
                        sys.settrace(None)
            finally:
                gc.unfreeze()
                self.namer.remove()
                self._forks.close()
                relocator.remove()
                patches.remove()
        except StopScript:
            status, code = "interrupted", 130
        except SystemExit as exc:
            status, code = "exited", self._exit_code(exc)
        except BaseException as exc:  # the script's own error, of any kind
            status, code = ("interrupted", 130) if isinstance(exc, KeyboardInterrupt) else ("error", 1)
            error, error_event = self._describe_error(exc)
        finally:
            sys.argv = saved_argv
            try:
                sys.path.remove(script.folder)
            except ValueError:
                pass
            if saved_main is not None:
                sys.modules["__main__"] = saved_main
        self._settle(error_event, main.__dict__, status == "interrupted")
        self.router.uninstall()
        self.capture.close()
        tl = self.timeline
        if tl.status == "running":
            tl.status, tl.exit_code, tl.error = status, code, error
        self._done.set()
        self.gate.wake()

    def _emit_watched(self, frame: FrameType | None, namespace: dict[str, Any] | None = None) -> None:
        """Watched variables changed by the line that just ran, attributed to that line."""
        file, line = self._where
        for name, value in self.watch.changes(frame, namespace):
            self._emit(ValueWatched, file, line, name=name, value=value)

    def _settle(self, error_event: dict[str, Any] | None, namespace: dict[str, Any], interrupted: bool) -> None:
        """Emit what is left (the last watched values, pending output, the notes about the whole
        run, the error); a stop cannot interrupt it."""
        try:
            if self.watch:
                self._emit_watched(None, namespace)
            self.router.flush_all()
        except StopScript:
            pass
        with _no_torch_function():
            review = self.notes.on_end(interrupted or self.timeline.status == "interrupted")
        last: list[tuple[type[Event], dict[str, Any]]] = []
        if review:
            last.append((RunReviewed, dict(file=self._where[0], line=self._where[1], notes=tuple(review))))
        if error_event is not None:
            last.append((ErrorRaised, error_event))
        for cls, fields in last:
            try:
                self._emit(cls, **fields)
            except StopScript:  # a stopping gate raises after the event is recorded
                pass

    def _exit_code(self, exc: SystemExit) -> int:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        sys.stderr.write(f"{exc.code}\n")  # as Python does for sys.exit("message")
        return 1

    def _describe_error(self, exc: BaseException) -> tuple[ErrorInfo, dict[str, Any]]:
        tracebacks.strip_engine_frames(exc, self._is_engine_file)
        loc = tracebacks.script_location(exc, self.filter.is_user)
        file, line = (self.filter.display(loc[0]), loc[1]) if loc else self._where
        message = str(exc)
        info = ErrorInfo(type(exc).__name__, message, line, file)
        event = dict(file=file, line=line, type=info.type, message=message,
                     traceback=tracebacks.format_exception(exc), notes=tuple(self.notes.on_error(message)))
        return info, event

    def _is_engine_file(self, filename: str) -> bool:
        return self.filter.kind(filename) is CodeKind.ENGINE or filename.endswith("torch/overrides.py")

    def _trace_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        try:
            filename = frame.f_code.co_filename
            if self.filter.kind(filename) is _USER:
                display = self.filter.display(filename)
                if display not in self.timeline.sources:
                    self.timeline.sources[display] = "".join(linecache.getlines(filename))
                return self._trace_local
            return None
        except RecursionError:
            return self._trace_local  # see _trace_local: the script raises it in its own frame

    def _trace_local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            try:
                self._line_event(frame)
            except RecursionError:
                # The script is at the recursion limit and this handler is one frame
                # deeper. Drop this line's event: the script's own next call raises the
                # RecursionError, in its own frame, as it would under plain python. An
                # exception escaping here would switch tracing off for the rest of the run.
                pass
        elif event == "exception" and self._step_quiet is not None:
            # A step raised: its post-hook will never run, so the script is out of it.
            self._leave_quiet_step()
            self._steps.clear()
        return self._trace_local

    def _line_event(self, frame: FrameType) -> None:
        code = frame.f_code
        if self.watch:
            self._emit_watched(frame)
        where = self._where = (self.filter.display(code.co_filename), frame.f_lineno)
        self._emit(LineReached, where[0], where[1], function=code.co_name)

    def note_once(self, key: str, text: str) -> None:
        """A plain note from gradtui to the user, as stderr output at the script's line."""
        if key in self._notes or not self._in_script_thread():
            return
        self._notes.add(key)
        self.router.flush_all()
        self._on_output("stderr", text)

    def run_input(self, original: Callable[..., str], prompt: object) -> str:
        if not self._in_script_thread() or self.input_handler is None:
            return original(prompt)
        text = "" if prompt is None else str(prompt)
        self.router.flush_all()
        answer = self.input_handler(text)
        if self.gate.stopping:
            raise StopScript
        if answer is None:
            raise EOFError("EOF when reading a line")  # what input() raises at end of input
        # What a terminal shows: the prompt, the answer typed after it, the new line.
        sys.stdout.write(f"{text}{answer}\n")
        return answer

    # ------------------------------------------------------------------ attribution

    def note_quiet_code(self, func: Any) -> None:
        """Operations inside ``func`` (a step or zero_grad the script defines) are not ops."""
        while hasattr(func, "__wrapped__"):
            func = func.__wrapped__
        code = getattr(func, "__code__", None)
        if code is not None and self.filter.is_user(code.co_filename):
            self._quiet_codes.add(code)

    def user_op_frame(self, frame: FrameType | None) -> FrameType | None:
        """The script's frame that called this operation, or None if it is not the script's.

        An operation called straight from the script's code, or through torch's operator
        wrappers (``**`` goes through ``torch/_tensor.py``), is the script's. So is one
        made inside a module's ``forward`` (``nn.Linear`` calling ``linear``): that is the
        computation the script asked for. Operations inside other library code (a
        module's ``__init__`` filling its weights), optimizers, autograd or gradtui are not.
        """
        quiet = self._quiet_codes
        kind = self.filter.kind
        only_wrappers = True
        in_forward = False
        while frame is not None:
            code = frame.f_code
            if code in quiet:
                return None
            k = kind(code.co_filename)
            if k is _USER:
                return frame if only_wrappers or in_forward else None
            if k in _STOPPERS:
                return None
            if k is not _WRAPPER:
                only_wrappers = False
                if code.co_name == "forward":
                    in_forward = True
            frame = frame.f_back
        return None

    def user_frame(self, frame: FrameType | None) -> FrameType | None:
        """The innermost frame of the script's own code, wherever the call came from."""
        is_user = self.filter.is_user
        while frame is not None and not is_user(frame.f_code.co_filename):
            frame = frame.f_back
        return frame

    def _in_script_thread(self) -> bool:
        return threading.get_ident() == self._thread_id and not self._forks.in_child()

    # ------------------------------------------------------------------ ops

    def record_op(self, frame: FrameType, name: str, args: Any, kwargs: Any, out: Any, grad_enabled: bool) -> None:
        t = first_tensor(out)
        if t is None:
            return
        with _no_torch_function():
            index = self.namer.index(frame)
            described = describe_args(args, kwargs, index.name)
            output = self.capture.summarize(t)
            fn = grad_fn_name(t)
            module, module_class = self.modules.locate(sys._getframe(1)) if t.grad_fn is not None else (None, None)
            graph = self.graph.record(t, index.name, module, module_class)
        file, line = self._at(frame)
        self._emit(OpCalled, file, line, op=name, grad_fn=fn, grad_enabled=grad_enabled, args=described,
                   output=output, graph=graph)

    def record_update(self, frame: FrameType, op: str, args: tuple[str, ...], grad_enabled: bool,
                      through_data: bool, params: dict[str, Change]) -> None:
        """Parameters the script changed in place (found by ``ManualUpdates``)."""
        file, line = self._at(frame)
        self._emit(ParamsUpdated, file, line, op=op, args=args, grad_enabled=grad_enabled, through_data=through_data,
                   params=params)

    def run_function_apply(self, original: Any, cls: type, args: Any, kwargs: Any) -> Any:
        if not self._in_script_thread():
            return original(cls, *args, **kwargs)
        frame = self.user_op_frame(sys._getframe(2))
        grad_enabled = torch.is_grad_enabled()
        out = original(cls, *args, **kwargs)
        if frame is not None:
            self.record_op(frame, cls.__name__, args, kwargs, out, grad_enabled)
        return out

    # ------------------------------------------------------------------ backward

    def run_backward(self, func: Any, args: Any, kwargs: Any, caller: FrameType) -> Any:
        frame = self.user_frame(caller)
        with _no_torch_function():
            roots = _backward_roots(func, args, kwargs)
            explicit = kwargs.get("inputs")
            leaves = _as_tensors(explicit) if explicit is not None else _reachable_leaves(roots)
            index = self.namer.index(frame)
            leaves.sort(key=index.rank)
            receiver = self.namer.receiver(frame) if len(roots) == 1 else None
            root_names = [index.name(r, hint=receiver) for r in roots]
            names = [index.name(leaf) for leaf in leaves]
            before = [self.capture.summarize(leaf.grad) for leaf in leaves]
            graph = self.graph.record(roots[0], index.name) if roots else None
            for extra in roots[1:]:
                self.graph.record(extra, index.name)
            hooked = [n for r in roots for n in self.graph.nodes_under(r)] if self.record_nodes else []
            trace = BackwardTrace(hooked, self.capture.summarize_small)
        try:
            out = func(*args, **kwargs)
        finally:
            trace.close()
        with _no_torch_function():
            self.graph.forget()  # the graph is consumed: do not keep its nodes alive
            self.namer.forget_frames()
            self.modules.forget_frame()
            after = [self.capture.summarize(leaf.grad) for leaf in leaves]
            self.namer.note_grads(leaves)
            loss, loss_scale = None, None
            if len(roots) == 1 and roots[0].numel() == 1:
                loss = plain_value(roots[0].detach().reshape(-1)[0].item())
                loss_scale = self.loss_scales.scale_of(roots[0])
                if loss_scale is not None and isinstance(loss, float):
                    loss /= loss_scale  # what the script's loss was before GradScaler scaled it
            notes = self.notes.on_backward(names, leaves, before, loss, self.timeline.events, frame)
        file, line = self._at(frame)
        grads = {n: Change(b, a) for n, b, a in zip(names, before, after)}
        self._emit(BackwardDone, file, line, root=", ".join(root_names), loss=loss, loss_scale=loss_scale,
                   grads=grads, graph=graph,
                   nodes=tuple(trace.runs), notes=tuple(notes))
        return out

    # ------------------------------------------------------------------ zero_grad

    def run_zero_grad(self, original: Callable[..., Any], obj: Any, args: Any, kwargs: Any) -> Any:
        if not self._in_script_thread() or self._zero_grad_depth:
            return original(obj, *args, **kwargs)
        with _no_torch_function():
            frame = self.user_frame(sys._getframe(1))
            params = optimizer_params(obj) if isinstance(obj, torch.optim.Optimizer) else list(obj.parameters())
            index = self.namer.index(frame)
            names = [index.name(p) for p in params]
            before = [self.capture.summarize(p.grad) for p in params]
            owner = Owner(self.namer.owner_name(obj, frame), type(obj).__name__)
        self._zero_grad_depth += 1
        try:
            with _no_torch_function():  # zero_grad's own work is not the script's ops
                result = original(obj, *args, **kwargs)
        finally:
            self._zero_grad_depth -= 1
        with _no_torch_function():
            after = [self.capture.summarize(p.grad) for p in params]
        self.notes.on_zero_grad(names)
        file, line = self._at(frame)
        grads = {n: Change(b, a) for n, b, a in zip(names, before, after)}
        self._emit(GradsZeroed, file, line, optimizer=owner, grads=grads)
        return result

    # ------------------------------------------------------------------ step

    def before_step(self, opt: torch.optim.Optimizer, args: Any = (), kwargs: Any = None) -> None:
        if not self._in_script_thread():
            return
        # torch passes the step's positional arguments including the optimizer itself.
        positional = args[1:] if args and args[0] is opt else args
        closure = positional[0] if positional else (kwargs or {}).get("closure")
        has_closure = closure is not None
        with _no_torch_function():
            if type(opt) not in self._stepped_classes:
                self._stepped_classes.add(type(opt))
                for cls in type(opt).__mro__:
                    if "step" in cls.__dict__:
                        self.note_quiet_code(cls.__dict__["step"])
            frame = self.user_frame(sys._getframe(1))
            params = optimizer_params(opt)
            index = self.namer.index(frame)
            names = [index.name(p) for p in params]
            before = [self.capture.summarize(p) for p in params]
            owner = Owner(self.namer.owner_name(opt, frame), type(opt).__name__)
        file, line = self._at(frame)
        with _no_torch_function():
            # With a closure (LBFGS) the gradients come from inside the step itself.
            notes = () if has_closure else tuple(self.notes.on_step(names, params, owner.name))
        self._steps.append(_PendingStep(opt, file, line, params, names, before, owner, notes))
        # An LBFGS-style closure runs the script's own code inside the step: keep recording.
        if not has_closure and self._step_quiet is None:
            self._step_quiet = _no_torch_function()
            self._step_quiet.__enter__()

    def _leave_quiet_step(self) -> None:
        quiet, self._step_quiet = self._step_quiet, None
        if quiet is not None:
            quiet.__exit__(None, None, None)

    def after_step(self, opt: torch.optim.Optimizer) -> None:
        if not self._in_script_thread():
            return
        self._leave_quiet_step()
        # A step that raised never reached its post-hook: drop what it left behind.
        while self._steps and self._steps[-1].optimizer is not opt:
            self._steps.pop()
        if not self._steps:
            return
        pending = self._steps.pop()
        with _no_torch_function():
            params = pending.params
            after = [self.capture.summarize(p) for p in params]
            state = {}
            for p, name in zip(params, pending.names):
                entry = opt.state.get(p)
                if entry:
                    state[name] = state_entry(entry, self.capture.summarize)
            hyper = hyperparameters(opt)
        changes = {n: Change(b, a) for n, b, a in zip(pending.names, pending.before, after)}
        self._emit(StepTaken, pending.file, pending.line, optimizer=pending.owner, hyperparams=hyper,
                   params=changes, state=state, notes=pending.notes)


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

