"""The one switch that makes the script's thread stop being the script while gradtui evaluates.

An expression typed at a pause (``gradtui.engine.evaluation``) runs in the script's thread,
because grad mode and autocast are thread-local and must answer as the script would see
them. Everything the engine watches in that thread must then look away, or the
evaluation would record events of its own, or pause at the gate it is called from:

* the line tracer: switched off for the thread, ``sys.settrace`` or ``sys.monitoring``
  (``gradtui.engine.tracing``; at an op event the thread is not inside a trace callback,
  so the script's functions an expression calls would otherwise be traced);
* the function mode and the engine's tensor work: ``torch._C.DisableTorchFunction``, as
  the engine's own work already runs (no op, no update, no ``backward`` is seen);
* the patches (zero_grad, step hooks, clipping, schedulers, gradient hooks, grad modes,
  ``Function.apply``, batches, the scaler): ``Attribution.suspended`` makes
  ``in_script_thread`` false, the check every patch makes first;
* output: the thread's writes to ``sys.stdout``/``sys.stderr`` are dropped (decision: an
  evaluation's prints are not the script's output, and the prompt shows the value, not
  what was printed); other threads write as before;
* ``input()`` raises instead of waiting for an answer nobody will give.

``StopWatch`` keeps a stopping driver able to end the run while an evaluation loops: it
raises ``StopScript`` in the script's thread asynchronously, only while the evaluated code
itself runs. What must not happen here: leaving any of it switched after the evaluation.
"""

from __future__ import annotations

import builtins
import ctypes
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

import torch

from gradtui.engine import tracing
from gradtui.engine.attribution import Attribution
from gradtui.engine.control import StopScript

_POLL_SECONDS = 0.05
#: Loop turns in which an asynchronous exception set a moment ago is surely delivered.
_ABSORB_LOOPS = 10_000


class InputDuringEvaluation(RuntimeError):
    """What ``input()`` raises while an expression is evaluated."""


class _Muted:
    """``sys.stdout``/``sys.stderr`` while evaluating: drops the evaluating thread's writes."""

    def __init__(self, original: TextIO, thread_id: int) -> None:
        self._original = original
        self._thread_id = thread_id

    def write(self, text: str) -> int:
        if threading.get_ident() == self._thread_id:
            return len(text)
        return self._original.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if threading.get_ident() != self._thread_id:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class Suspended:
    """While entered in the script's thread, nothing it does is recorded as the script's."""

    def __init__(self, attribution: Attribution) -> None:
        self._attribution = attribution
        self._trace: tracing.Saved | None = None
        self._no_torch_function: Any = None
        self._streams: tuple[Any, Any, _Muted, _Muted] | None = None
        self._input: Callable[..., str] | None = None
        self._no_input: Callable[..., str] | None = None
        self._was_suspended = False

    def __enter__(self) -> Suspended:
        self._trace = tracing.switch_off()
        self._no_torch_function = torch._C.DisableTorchFunction()
        self._no_torch_function.__enter__()
        self._was_suspended = self._attribution.suspended
        self._attribution.suspended = True
        me = threading.get_ident()
        out, err = _Muted(sys.stdout, me), _Muted(sys.stderr, me)
        self._streams = (sys.stdout, sys.stderr, out, err)
        sys.stdout, sys.stderr = out, err
        self._input = original = builtins.input

        def no_input(prompt: object = "") -> str:
            if threading.get_ident() == me:
                raise InputDuringEvaluation("input() cannot be answered while an expression is evaluated")
            return original(prompt)

        builtins.input = self._no_input = no_input
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._input is not None and builtins.input is self._no_input:
            builtins.input = self._input
        if self._streams is not None:
            old_out, old_err, out, err = self._streams
            # Only our own proxies go: a statement that set sys.stdout keeps what it set.
            if sys.stdout is out:
                sys.stdout = old_out
            if sys.stderr is err:
                sys.stderr = old_err
            self._streams = None
        self._attribution.suspended = self._was_suspended
        self._no_torch_function.__exit__(kind, error, tb)
        if self._trace is not None:
            tracing.switch_back(self._trace)


class StopWatch:
    """Around the evaluated code only: ``stopping()`` turning true raises ``StopScript`` in it.

    A helper thread polls, and sets an asynchronous exception in the evaluating thread
    (``PyThreadState_SetAsyncExc``) once. On leaving, one not yet delivered is let land
    here, and ``StopScript`` is raised here if the code swallowed it, so that it never
    lands later in the engine's own clean-up.
    """

    def __init__(self, stopping: Callable[[], bool]) -> None:
        self._stopping = stopping
        self._lock = threading.Lock()
        self._active = False
        self._fired = False
        self._done = threading.Event()
        self._thread_id = 0

    def __enter__(self) -> StopWatch:
        self._thread_id = threading.get_ident()
        self._active = True
        threading.Thread(target=self._watch, name="gradtui-evaluation-stop", daemon=True).start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(_POLL_SECONDS):
            if self._stopping():
                with self._lock:
                    if self._active:
                        self._fired = True
                        _async_raise(self._thread_id, StopScript)
                return

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:
            self._active = False
            fired = self._fired
        self._done.set()
        if fired and not isinstance(error, StopScript):
            # Not delivered yet, or swallowed by the code. A pending one lands at the next
            # check of the interpreter's eval breaker: let that be in this loop, never in
            # the clean-up after. (Withdrawing it with PyThreadState_SetAsyncExc(id, NULL)
            # left Python 3.11 spinning in its pending-call handler.)
            for _ in range(_ABSORB_LOOPS):
                pass
            raise StopScript


def _async_raise(thread_id: int, exc: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))
