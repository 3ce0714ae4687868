"""Running the script as ``python SCRIPT ARGS`` would, in the script's thread, and ending the run.

``ScriptRun.run`` is the body of the script's thread: it makes a fresh ``__main__`` (with
the script's ``sys.argv``, ``__file__`` and folder on ``sys.path``), installs the hooks
(the patches, the warning relocator, the namer's module hooks, the fork guard, the
function mode, the module locator, the line tracer), runs the script's code, and takes
everything off again whatever happened. The hooks hand their events to the recorder.
Then the run is settled: the last watched values, pending output, the notes about the
whole run and the error are recorded, and how the run ended (``finished``, ``error``,
``exited``, ``interrupted``) is written through the recorder, which is the one writer.

What must not happen here: leaving a hook installed after the run, or losing an event
recorded before the end.
"""

from __future__ import annotations

import builtins
import gc
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import torch

from gradtui.engine import tracebacks, tracing
from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture
from gradtui.engine.control import StopScript
from gradtui.engine.forking import ForkGuard
from gradtui.engine.line_tracer import LineTracer
from gradtui.engine.modules import ModuleLocator
from gradtui.engine.naming import Namer
from gradtui.engine.notes import NoteKeeper
from gradtui.engine.ops import OpRecorder
from gradtui.engine.patches import Patches
from gradtui.engine.program import Part, Script
from gradtui.engine.recorder import Recorder
from gradtui.engine.warning_location import WarningRelocator
from gradtui.engine.watch import WatchList
from gradtui.model.events import ErrorRaised, Event, RunReviewed
from gradtui.model.timeline import ErrorInfo

_no_torch_function = torch._C.DisableTorchFunction


class ScriptRun:
    """The script's thread for one run: set up, run the script, settle, say how it ended."""

    def __init__(self, script: Script, *, recorder: Recorder, attribution: Attribution, patches: Patches,
                 namer: Namer, forks: ForkGuard, ops: OpRecorder, modules: ModuleLocator, tracer: LineTracer,
                 watch: WatchList, notes: NoteKeeper, capture: TensorCapture) -> None:
        self._script = script
        self._recorder = recorder
        self._attribution = attribution
        self._patches = patches
        self._namer = namer
        self._forks = forks
        self._ops = ops
        self._modules = modules
        self._tracer = tracer
        self._watch = watch
        self._notes = notes
        self._capture = capture
        self.done = threading.Event()

    def run(self) -> None:
        recorder, attribution = self._recorder, self._attribution
        thread_id = attribution.enter_script_thread()
        script = self._script
        main = types.ModuleType("__main__")
        main.__dict__.update(__builtins__=builtins, __spec__=None, __package__=None, __cached__=None)
        if not script.is_notebook:  # a notebook has no __file__ in Jupyter either
            main.__dict__["__file__"] = script.filename
        else:  # ... and has IPython's display() without an import
            main.__dict__["__builtins__"] = {**vars(builtins), "display": display}
        saved_argv, saved_main, saved_cwd = sys.argv, sys.modules.get("__main__"), os.getcwd()
        sys.argv = list(recorder.timeline.argv)
        sys.path.insert(0, script.folder)
        if script.is_notebook:  # Jupyter runs a notebook in its own folder: its relative paths mean that one
            os.chdir(script.folder)
        sys.modules["__main__"] = main
        recorder.router.install(thread_id)
        status, code, error, error_event = "finished", 0, None, None
        try:
            relocator = WarningRelocator(attribution.in_script_thread, attribution.is_engine_file,
                                         attribution.user_frame, in_cell=_cell_namer(script))
            self._patches.install()
            relocator.install()
            self._namer.install()
            self._forks.install()
            # torch's ~160k import-time objects live as long as the process: freezing them
            # keeps every full collection during the run from scanning them again (the
            # engine allocates per event; without this a capture cost ~8x more).
            gc.freeze()
            try:
                with self._ops, self._modules.installed(), tracing.installed(self._tracer):
                    self._forks.run_script(lambda: run_parts(script.parts, main.__dict__))
            finally:
                gc.unfreeze()
                self._namer.remove()
                self._forks.close()
                relocator.remove()
                self._patches.remove()
        except StopScript:
            status, code = "interrupted", 130
        except SystemExit as exc:
            status, code = "exited", _exit_code(exc)
        except BaseException as exc:  # the script's own error, of any kind
            status, code = ("interrupted", 130) if isinstance(exc, KeyboardInterrupt) else ("error", 1)
            error, error_event = self._describe_error(exc)
        finally:
            sys.argv = saved_argv
            if script.is_notebook:
                os.chdir(saved_cwd)
            try:
                sys.path.remove(script.folder)
            except ValueError:
                pass
            if saved_main is not None:
                sys.modules["__main__"] = saved_main
        self._settle(error_event, main.__dict__, status == "interrupted")
        recorder.router.uninstall()
        self._capture.close()
        recorder.finish(status, code, error)
        self.done.set()
        tl = recorder.timeline
        recorder.gate.end(tl.status, tl.exit_code, tl.error)

    def _settle(self, error_event: dict[str, Any] | None, namespace: dict[str, Any], interrupted: bool) -> None:
        """Emit what is left (the last watched values, pending output, the notes about the whole
        run, the error); a stop cannot interrupt it."""
        recorder = self._recorder
        try:
            if self._watch:
                self._tracer.emit_watched(None, namespace)
            recorder.flush()
        except StopScript:
            pass
        with _no_torch_function():
            review = self._notes.on_end(interrupted or recorder.timeline.status == "interrupted")
        last: list[tuple[type[Event], dict[str, Any]]] = []
        if review:
            last.append((RunReviewed, dict(file=recorder.where[0], line=recorder.where[1], notes=tuple(review))))
        if error_event is not None:
            last.append((ErrorRaised, error_event))
        for cls, fields in last:
            try:
                recorder.emit(cls, **fields)
            except StopScript:  # a stopping gate raises after the event is recorded
                pass

    def _describe_error(self, exc: BaseException) -> tuple[ErrorInfo, dict[str, Any]]:
        code_filter = self._attribution.filter
        tracebacks.strip_engine_frames(exc, self._attribution.is_engine_file)
        loc = tracebacks.script_location(exc, code_filter.is_user)
        file, line = (code_filter.display(loc[0]), loc[1]) if loc else self._recorder.where
        message = str(exc)
        info = ErrorInfo(type(exc).__name__, message, line, file)
        script = self._script
        notebook = ((script.filename, os.path.basename(script.path), script.cells)
                    if script.is_notebook and script.cells is not None else None)
        event = dict(file=file, line=line, type=info.type, message=message,
                     traceback=tracebacks.format_exception(exc, notebook), notes=tuple(self._notes.on_error(message)))
        return info, event


def _cell_namer(script: Script) -> Callable[[str, int], tuple[str, int] | None] | None:
    """For a notebook: a line of its text as (``lesson.ipynb, In [4]``, line in the cell)."""
    cells = script.cells
    if not script.is_notebook or cells is None:
        return None
    filename, shown = script.filename, os.path.basename(script.path)

    def in_cell(file: str, line: int) -> tuple[str, int] | None:
        cell = cells.at(line) if file == filename else None
        within = cells.line_in_cell(line) if cell is not None and cell.is_code else None
        return None if cell is None or within is None else (f"{shown}, {cell.label}", within)

    return in_cell


def run_parts(parts: tuple[Part, ...], namespace: dict[str, Any]) -> None:
    """The script's code, part after part in one namespace; a notebook cell's shown value as ``Out[n]``."""
    for part in parts:
        if part.out is None:
            exec(part.code, namespace)
            continue
        saved, sys.displayhook = sys.displayhook, _OutputShower(part.out)
        try:
            exec(part.code, namespace)
        finally:
            sys.displayhook = saved


def display(*values: object, **_options: object) -> None:
    """IPython's ``display()`` in a notebook, as text: each value's repr on its own line."""
    for value in values:
        sys.stdout.write(f"{value!r}\n")


class _OutputShower:
    """``sys.displayhook`` for one cell: prints the value as Jupyter shows it, ``Out[24]: 0.6``."""

    def __init__(self, label: str) -> None:
        self._label = label

    def __call__(self, value: object) -> None:
        if value is None:
            return
        text = repr(value)
        between = "\n" if "\n" in text else " "  # a value of many lines starts on its own line
        sys.stdout.write(f"{self._label}:{between}{text}\n")


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(f"{exc.code}\n")  # as Python does for sys.exit("message")
    return 1
