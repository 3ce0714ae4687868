"""One run of a user's script under the engine: the thread it runs in and the controller.

A ``Session`` runs the script exactly as ``python SCRIPT ARGS`` would, in a worker
thread (``gradtui.engine.script_runner``), and turns what happens into events appended
to ``timeline``. The flow: the script calls torch; small hooks, each built here from the
collaborators it needs (attribution of frames, naming, capture, the graph, notes), see
the calls (the function mode, backward, zero_grad, step, ``Function.apply``, ``input``,
the line tracer, the stream proxies) and hand each event to the ``Recorder``, the one
writer, which appends it to the timeline, passes it to the ``sink`` and lets the
script's thread through the ``Gate``. The driver's thread (the TUI, the headless
recorder, a test) sends commands here and never runs script code; the session never
calls its driver except through the ``sink``, which receives each event in the script's
thread and must not block. None of the hooks knows the session.

How a run ends is always written to the timeline (``finished``, ``error``, ``exited``,
``interrupted``), and every event recorded before the end is kept.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

import gradtui
from gradtui.engine.attribution import Attribution
from gradtui.engine.autograd_grad import AutogradGrad
from gradtui.engine.backward_hook import BackwardHook
from gradtui.engine.batches import Batches
from gradtui.engine.capture import (
    DEFAULT_BUDGET_BYTES,
    DEFAULT_MAX_VALUES,
    TensorCapture,
)
from gradtui.engine.clipping import Clipping
from gradtui.engine.codefilter import CodeFilter, CodeKind
from gradtui.engine.control import Gate
from gradtui.engine.evaluation import Evaluator
from gradtui.engine.forking import ForkGuard
from gradtui.engine.gc_pauses import StartupFreeze
from gradtui.engine.grad_hooks import GradHooks
from gradtui.engine.graph import GraphRecorder, NodeTable
from gradtui.engine.line_tracer import LineTracer
from gradtui.engine.loss_scale import LossScales
from gradtui.engine.modes import ModeEvents
from gradtui.engine.modules import ModuleLocator
from gradtui.engine.naming import Namer
from gradtui.engine.notes import GradNormLimits, NoteKeeper
from gradtui.engine.op_events import OpEvents
from gradtui.engine.ops import OpRecorder
from gradtui.engine.optimizer_hooks import OptimizerHooks
from gradtui.engine.patches import Patches
from gradtui.engine.preload import UntracedImports
from gradtui.engine.recorder import EventList, EventSink, NotesOnce, Recorder
from gradtui.engine.scaler_events import ScalerEvents
from gradtui.engine.schedulers import Schedulers
from gradtui.engine.script import Script
from gradtui.engine.script_input import ScriptInput
from gradtui.engine.script_runner import ScriptRun
from gradtui.engine.untraced import untraced
from gradtui.engine.updates import ManualUpdates
from gradtui.engine.var_values import Describer
from gradtui.engine.variables import FrameVariables
from gradtui.engine.watch import WatchList
from gradtui.model.events import ErrorRaised, Event
from gradtui.model.navigation import Command, Continue, NextEvent, NextLine, Pause, StepOp
from gradtui.model.reports import Answer, Evaluate, Report
from gradtui.model.stops import EventStop
from gradtui.model.store.log import EventLog, GraphLog
from gradtui.model.store.writer import RunInfo, StoreWriter
from gradtui.model.timeline import Timeline

__all__ = ["EventSink", "Session"]


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
        ask_input: bool = False,
        grad_norm_limits: GradNormLimits | None = None,
        stops: tuple[EventStop, ...] = (),
        record_nodes: bool = True,
        record: str | os.PathLike[str] | None = None,
        bounded: bool = False,
        options: Mapping[str, Any] | None = None,
        keep_steps: int | None = None,
        variables: bool = True,
    ) -> None:
        """``record``: write the run to that recording file as it goes (``gradtui.model.store``),
        keeping only the newest events in memory; ``bounded`` without ``record``: keep only
        those (``--trace`` has printed the rest); neither: every event in ``timeline.events``.
        ``variables``: each line event carries what changed in its frame's variables (``scope``)."""
        self.script = script
        code_filter = CodeFilter(script.path)
        attribution = Attribution(code_filter)
        #: The run's tensor capture (tests read its pending bytes).
        capture = self.capture = TensorCapture(max_values=max_values, budget_bytes=budget_bytes)
        self.timeline = Timeline(script=script.path, argv=[script.path, *args], max_values=max_values,
                                 torch_version=torch.__version__)
        tl = self.timeline
        #: The recording being written, when there is one.
        self.writer: StoreWriter | None = None
        log: EventList = tl.events  # type: ignore[assignment]
        nodes: NodeTable = tl.graph  # type: ignore[assignment]
        if record is not None or bounded:
            if record is not None:
                self.writer = StoreWriter(record, RunInfo(script=script.path, argv=list(tl.argv), max_values=max_values,
                                                          torch_version=torch.__version__,
                                                          gradtui_version=gradtui.__version__,
                                                          options=dict(options or {})),
                                          sources=lambda: tl.sources, keep_steps=keep_steps,
                                          prepare=capture.materialize_pending,
                                          send_here=attribution.in_script_thread)
            log = tl.events = EventLog(self.writer)
            nodes = GraphLog(self.writer)
        writer = self.writer

        def before_report() -> None:
            # A driver that pauses the run reads what each report hands over: the statistics
            # are computed first, here in the script's thread, and committed to the recording.
            if start_paused:
                capture.settle()
            if writer is not None:
                if start_paused:
                    writer.hold()  # a pause is a stop: --keep-steps keeps what is around it
                writer.flush()

        self.gate = Gate(Pause() if start_paused else Continue(stops=stops), count=lambda: len(log),
                         sources=lambda: tl.sources,
                         before_report=before_report if start_paused or writer is not None else None)
        notes = NoteKeeper(grad_norm_limits)
        recorder = self._recorder = Recorder(self.timeline, self.gate, sink, echo=echo_output,
                                             display=code_filter.display, notes=notes, log=log)
        user = CodeKind.USER
        namer = Namer(lambda f: code_filter.kind(f.f_code.co_filename) is user,
                      lambda t: updates.alias_owner(t))
        graph = GraphRecorder(nodes)
        modules = ModuleLocator()
        watched = WatchList(watch)
        #: Tensors that ``GradScaler.scale`` returned, with the factor it multiplied by.
        loss_scales = LossScales()
        op_events = OpEvents(recorder, attribution, capture, namer, modules, graph)
        updates = ManualUpdates(capture, namer, op_events)
        backward = BackwardHook(recorder, attribution, capture, namer, graph, modules, notes, loss_scales,
                                record_nodes=record_nodes)
        freeze = StartupFreeze()
        backward.on_first = freeze.now
        autograd_grad = AutogradGrad(recorder, attribution, capture, namer, graph, modules, lambda: backward.count,
                                     record_nodes=record_nodes)
        optimizers = OptimizerHooks(recorder, attribution, capture, namer, notes)
        #: ``ask_input``: the script's ``input()`` waits for the driver's ``Answer`` (the app
        #: asks the user); otherwise it reads stdin as usual.
        self._input = ScriptInput(recorder, attribution.in_script_thread, from_driver=ask_input)
        note_once = NotesOnce(recorder, attribution.in_script_thread)
        self._run = ScriptRun(
            script, recorder=recorder, attribution=attribution,
            patches=Patches(optimizers, attribution, op_events, note_once, self._input,
                            more=[Clipping(recorder, attribution, capture, namer),
                                  Schedulers(recorder, attribution, namer),
                                  GradHooks(recorder, attribution, capture, namer, graph),
                                  Batches(recorder, attribution, capture, namer),
                                  ScalerEvents(recorder, attribution, capture, namer, optimizers, loss_scales),
                                  ModeEvents(recorder, attribution, namer),
                                  UntracedImports(), freeze]),
            namer=namer, forks=ForkGuard(recorder, note_once, attribution.is_engine_file),
            ops=OpRecorder(attribution.user_op_frame, untraced(op_events.record_op), updates, backward.run,
                           autograd_grad.run),
            modules=modules,
            tracer=LineTracer(recorder, code_filter, watched, optimizers,
                              FrameVariables(Describer(capture, graph.id_of), code_filter) if variables else None,
                              script=script, namer=namer),
            watch=watched, notes=notes, capture=capture,
        )
        # Expressions typed at a pause run in the script's thread, at the gate (``gradtui.engine.evaluation``).
        self.gate.evaluator = Evaluator(code_filter.is_user, capture, graph.id_of, recorder, attribution,
                                        namer.forget_frames)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ driver side

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run.run, name="gradtui-script", daemon=True)
        self._thread.start()

    def send(self, command: Command | Answer | Evaluate) -> None:
        """A command for the paused script, the answer to its ``input()``, or an expression to evaluate."""
        self.gate.send(command)

    def next_report(self, timeout: float) -> Report:
        """The engine's report once the script pauses, asks for input or ends (``Running`` if not
        within ``timeout`` seconds): what the driver may read of the timeline."""
        return self.gate.next_report(timeout)

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
        return self.gate.wait_paused(timeout, self._run.done.is_set)

    def join(self, timeout: float) -> bool:
        """Wait until the script's thread has ended, not merely finished the script.

        A thread still tearing down while the interpreter exits makes torch's C++ runtime
        abort ("terminate called without an active exception"), so drivers join fully.
        """
        deadline = time.monotonic() + timeout
        if not self._run.done.wait(timeout):
            return False
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            return not self._thread.is_alive()
        return True

    @property
    def finished(self) -> bool:
        return self._run.done.is_set()

    @property
    def paused_at(self) -> Event | None:
        return self.gate.paused_at

    @property
    def errors(self) -> list[ErrorRaised]:
        """The error events of the run (the one that ended it), without reading every event."""
        return self._recorder.errors

    def close_recording(self) -> None:
        """Write how the run ended (as ``timeline`` now says) and close the recording file.

        The driver calls this once the script's thread is done, after any last word on the
        status (a headless ``--break-on`` stop). Raises ``StoreError`` if the file cannot
        be finished; everything committed before stays readable.
        """
        if self.writer is not None:
            tl = self.timeline
            self.writer.close(tl.status, tl.exit_code, tl.error)

    def mark_interrupted(self) -> None:
        """Called by a driver that gives up waiting for a stuck script (a long C operation):
        the timeline ends ``interrupted`` with what it has, and nothing is appended after."""
        if not self._run.done.is_set():
            self._recorder.interrupt()
