"""The line tracer's events from ``sys.monitoring`` (PEP 669), on Python 3.12 and later.

Why: a ``sys.settrace`` function is called for every frame the script's thread starts,
torch's too, and on 3.12+ ``settrace`` is itself built on ``sys.monitoring`` with every
event switched on for all code. Here only ``PY_START`` is global, and a code object that
is not the user's answers ``DISABLE`` once: its calls cost nothing after that. The user's
code objects get local events (``LINE``, ``JUMP``, returns, ``STOP_ITERATION``); ``RAISE``
and ``PY_UNWIND`` cannot be local and are checked against the user's files.

The events are those CPython's own ``settrace`` emulation (``Python/legacy_tracing.c``)
makes of the same monitoring events, handed to the same ``LineTracer`` methods: a line
is a ``LINE`` event or a backward ``JUMP`` within one line (``for x in xs: total += x``,
each turn); a return is ``PY_RETURN``, ``PY_YIELD`` or ``PY_UNWIND``; an exception is
``RAISE`` or ``STOP_ITERATION``. ``tests/test_tracer_backends.py`` records scenarios both
ways and compares the timelines event by event.

``sys.monitoring`` is process-wide where ``settrace`` is per thread, so the thread is
checked here: a callback acts only for a thread that registered a tracer (the script's
thread of a run) and while it is switched on. ``switch`` is what ``sys.settrace(None)``
and back was for a pause's evaluation; an exception escaping a callback switches the
thread off, as CPython unsets a trace function that raised. (One difference, on purpose:
at the recursion limit a callback cannot be called at all, and the RecursionError is the
script's own, raised in its call as plain python raises it; tracing goes on after a
script catches it, where CPython had unset a trace function for the rest of the run.)
Other threads running the
user's code (the app's, the store writer, threads the script starts) cost a dict lookup
per event and are never disabled: ``DISABLE`` is per code location for every thread, so it
is only answered for what is not the user's code in any thread (``PY_START``), or for a
jump that never makes a line event.

The tool id is ``DEBUGGER_ID``: gradtui is a debugger, and coverage.py (``COVERAGE_ID``) and
profilers (``PROFILER_ID``) can then measure a run of it. If another debugger holds the id
(debugpy does on 3.12+, as does torch's bytecode debugger), ``start`` says no and the run
uses ``sys.settrace``, whose events are the same. The id is taken when the first thread
registers and given back, with every event and callback cleared, when the last one goes;
``restart_events`` on taking it undoes ``DISABLE`` answers given for an earlier run, whose
script's folder (and so its idea of the user's code) may have been another.

This module must not be imported before 3.12 (``gradtui.engine.tracing`` decides), and
must not decide anything about what an event means: ``LineTracer`` does.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import CodeType
from typing import TYPE_CHECKING, Any

assert sys.version_info >= (3, 12)  # also tells mypy, checking for 3.11, to skip the rest of this module

if TYPE_CHECKING:
    from gradtui.engine.line_tracer import LineTracer

_mon = sys.monitoring
_events = _mon.events
_DISABLE = _mon.DISABLE
TOOL = _mon.DEBUGGER_ID
_GLOBAL = _events.PY_START | _events.RAISE | _events.PY_UNWIND
_LOCAL = _events.LINE | _events.JUMP | _events.PY_RETURN | _events.PY_YIELD | _events.STOP_ITERATION
_get_ident = threading.get_ident
_getframe = sys._getframe


class _Thread:
    """A registered thread: its run's tracer, whether tracing is on for it now, and the code
    objects its tracer said are the user's."""

    __slots__ = ("tracer", "on", "codes")

    def __init__(self, tracer: LineTracer) -> None:
        self.tracer = tracer
        self.on = True
        self.codes: set[CodeType] = set()

    def admits(self, code: CodeType) -> bool:
        """``code`` is the user's for this run (remembered once it is)."""
        if self.tracer.is_users(code.co_filename):
            self.codes.add(code)
            return True
        return False


class _Monitor:
    """The process's one holder of the tool id, dispatching each event to its thread's tracer."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._threads: dict[int, _Thread] = {}
        #: The code objects given local events (any run's user's), cleared when the id is given back.
        self._local: set[CodeType] = set()
        #: Backward jumps within one line, by code and offset: the line (others were answered ``DISABLE``).
        self._same_line_jumps: dict[tuple[CodeType, int], int] = {}

    # ------------------------------------------------------------------ registration

    def start(self, tracer: LineTracer) -> bool:
        """Trace the calling thread with ``tracer``; False if the tool id is another tool's."""
        thread = _Thread(tracer)
        with self._lock:
            if not self._threads:
                if _mon.get_tool(TOOL) is not None:
                    return False
                _mon.use_tool_id(TOOL, "gradtui")
                for event, callback in self._callbacks().items():
                    _mon.register_callback(TOOL, event, callback)
                _mon.restart_events()
                _mon.set_events(TOOL, _GLOBAL)
            self._threads[_get_ident()] = thread
            return True

    def stop(self) -> None:
        """The calling thread is traced no more; the last one gives the tool id back."""
        with self._lock:
            if self._threads.pop(_get_ident(), None) is not None and not self._threads:
                self._release()

    def switch(self, on: bool) -> bool:
        """Tracing on or off for the calling thread; what it was (False: not registered)."""
        thread = self._threads.get(_get_ident())
        if thread is None:
            return False
        was, thread.on = thread.on, on
        return was

    def release_in_child(self) -> None:
        """In a forked child: no thread of any run is traced, the id is given back."""
        # A new lock: the child has only the thread that forked, and the parent's lock may
        # have been held by a thread that does not exist here.
        self._lock = threading.RLock()
        if self._threads:
            self._threads.clear()
            self._release()

    def _callbacks(self) -> dict[int, Callable[..., Any]]:
        return {_events.PY_START: self._started, _events.LINE: self._line, _events.JUMP: self._jumped,
                _events.PY_RETURN: self._returned, _events.PY_YIELD: self._returned,
                _events.PY_UNWIND: self._unwound, _events.RAISE: self._raised,
                _events.STOP_ITERATION: self._stopped}

    def _release(self) -> None:
        _mon.set_events(TOOL, 0)
        for code in self._local:
            _mon.set_local_events(TOOL, code, 0)
        self._local.clear()
        self._same_line_jumps.clear()
        for event in self._callbacks():
            _mon.register_callback(TOOL, event, None)
        _mon.free_tool_id(TOOL)

    # ------------------------------------------------------------------ callbacks
    # Each one: nothing unless the calling thread is registered and on; RecursionError
    # dropped as LineTracer._trace_local drops it (the script raises it in its own frame);
    # anything else switches the thread off and goes on into the script, as from settrace.

    def _started(self, code: CodeType, offset: int) -> Any:
        thread = self._threads.get(_get_ident())
        try:
            if thread is not None and thread.on:
                users = thread.tracer.enters(code.co_filename)
                if users:
                    thread.codes.add(code)
            else:
                users = any(t.tracer.is_users(code.co_filename) for t in list(self._threads.values()))
        except RecursionError:
            return None  # undecided: asked again at the next call
        except BaseException:
            if thread is not None:
                thread.on = False
            raise
        if not users:
            return _DISABLE  # never the user's, in any thread: its calls cost nothing from now on
        if code not in self._local:
            with self._lock:
                if self._threads and code not in self._local:  # not while the id is given back
                    self._local.add(code)
                    _mon.set_local_events(TOOL, code, _LOCAL)
        return None

    def _line(self, code: CodeType, line: int) -> Any:
        thread = self._threads.get(_get_ident())
        if thread is None or not thread.on or (code not in thread.codes and not thread.admits(code)):
            return None
        try:
            thread.tracer.line(_getframe(1))
        except RecursionError:
            pass
        except BaseException:
            thread.on = False
            raise
        return None

    def _jumped(self, code: CodeType, source: int, target: int) -> Any:
        line = self._same_line_jumps.get((code, source))
        if line is None:
            if target > source or (line := _line_at(code, target)) is None or line != _line_at(code, source):
                return _DISABLE  # forward, or onto another line: that line's LINE event says it
            self._same_line_jumps[(code, source)] = line
        thread = self._threads.get(_get_ident())
        if thread is None or not thread.on or (code not in thread.codes and not thread.admits(code)):
            return None
        try:
            thread.tracer.line(_getframe(1))
        except RecursionError:
            pass
        except BaseException:
            thread.on = False
            raise
        return None

    def _returned(self, code: CodeType, offset: int, value: object) -> Any:
        thread = self._threads.get(_get_ident())
        if thread is None or not thread.on or (code not in thread.codes and not thread.admits(code)):
            return None
        try:
            thread.tracer.returned(_getframe(1))
        except RecursionError:
            pass
        except BaseException:
            thread.on = False
            raise
        return None

    def _unwound(self, code: CodeType, offset: int, exception: BaseException) -> Any:
        thread = self._threads.get(_get_ident())
        if thread is None or not thread.on or code not in thread.codes:
            return None  # a global event: only the codes this thread started as the user's
        try:
            thread.tracer.returned(_getframe(1))
        except RecursionError:
            pass
        except BaseException:
            thread.on = False
            raise
        return None

    def _raised(self, code: CodeType, offset: int, exception: BaseException) -> Any:
        thread = self._threads.get(_get_ident())
        if thread is None or not thread.on or code not in thread.codes:
            return None
        try:
            thread.tracer.raised()
        except RecursionError:
            pass
        except BaseException:
            thread.on = False
            raise
        return None

    def _stopped(self, code: CodeType, offset: int, value: object) -> Any:
        thread = self._threads.get(_get_ident())
        if thread is None or not thread.on or (code not in thread.codes and not thread.admits(code)):
            return None
        try:
            thread.tracer.raised()
        except RecursionError:
            pass
        except BaseException:
            thread.on = False
            raise
        return None


def _line_at(code: CodeType, offset: int) -> int | None:
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


_monitor = _Monitor()
start = _monitor.start
stop = _monitor.stop
switch = _monitor.switch
release_in_child = _monitor.release_in_child
