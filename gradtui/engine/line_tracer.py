"""The line tracer: each line of the script's own code as a ``line`` event.

``sys.settrace`` in the script's thread calls ``trace_call`` for every frame; only the
script's files get the local tracer, so torch's frames cost one filter lookup. On Python
3.12+ ``sys.monitoring`` gives the same events instead (``gradtui.engine.monitoring``;
``gradtui.engine.tracing`` chooses), to the same methods: ``enters``, ``line``,
``returned``, ``raised`` are what an event means, whichever hook saw it. Before a
line's event, the watched variables the previous line changed are recorded (attributed
to that line), the frame's variables are compared with the last look at them (the line
event carries what changed, ``gradtui.engine.variables``), and the first time a file is
entered its source is kept in the timeline. A frame's ``return`` ends what is known of it.
After a return, what follows is attributed to the caller's line again. The events go to
the recorder, which appends them and passes the gate: a stop or a pause between lines
happens there.
"""

from __future__ import annotations

import linecache
from types import FrameType
from typing import Any

import torch

from gradtui.engine.codefilter import CodeFilter, CodeKind
from gradtui.engine.naming import Namer
from gradtui.engine.optimizer_hooks import OptimizerHooks
from gradtui.engine.recorder import Recorder
from gradtui.engine.script import Script
from gradtui.engine.variables import FrameVariables
from gradtui.engine.watch import WatchList
from gradtui.model.events import LineReached, ValueWatched

_USER = CodeKind.USER
_no_torch_function = torch._C.DisableTorchFunction


class LineTracer:
    """The ``sys.settrace`` functions of one run."""

    def __init__(self, recorder: Recorder, code_filter: CodeFilter, watch: WatchList, steps: OptimizerHooks,
                 variables: FrameVariables | None = None, script: Script | None = None,
                 namer: Namer | None = None) -> None:
        """``variables``: record the frames' variables on each line event (None: leave ``scope`` None).
        ``namer``: told of each line event, so that a frame's variables are read again after it.
        ``script``: its text is the source kept for its file (a notebook's cells, not its JSON), and
        its lines that gradtui rewrote carry their notes."""
        self._recorder = recorder
        self._filter = code_filter
        self._watch = watch
        self._steps = steps
        self._variables = variables
        self._namer = namer
        self._sources = recorder.timeline.sources
        self._line_notes: dict[tuple[str, int], tuple[str, ...]] = {}
        if script is not None:
            self._sources[code_filter.display(script.filename)] = script.source
            self._line_notes = {(script.filename, line): (note,) for line, note in script.line_notes.items()}

    def trace_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        """The global ``sys.settrace`` function: the local tracer for the user's frames only."""
        try:
            return self._trace_local if self.enters(frame.f_code.co_filename) else None
        except RecursionError:
            return self._trace_local  # see _trace_local: the script raises it in its own frame

    def _trace_local(self, frame: FrameType, event: str, arg: Any) -> Any:
        try:
            if event == "line":
                self.line(frame)
            elif event == "return":
                self.returned(frame)
            elif event == "exception":
                self.raised()
        except RecursionError:
            # The script is at the recursion limit and this handler is one frame
            # deeper. Drop this line's event: the script's own next call raises the
            # RecursionError, in its own frame, as it would under plain python. An
            # exception escaping here would switch tracing off for the rest of the run.
            pass
        return self._trace_local

    # The events, whichever hook saw them (``sys.settrace`` above, or ``gradtui.engine.monitoring``).

    def enters(self, filename: str) -> bool:
        """A frame of ``filename`` starts: True if it is the user's (its lines are events); the
        first time a user's file is entered its source is kept in the timeline."""
        if self._filter.kind(filename) is not _USER:
            return False
        display = self._filter.display(filename)
        if display not in self._sources:
            self._sources[display] = "".join(linecache.getlines(filename))
        return True

    def is_users(self, filename: str) -> bool:
        return self._filter.kind(filename) is _USER

    def returned(self, frame: FrameType) -> None:
        """A frame of the user's returned, yielded, or was left by an exception."""
        if self._variables is not None:
            self._variables.returned(frame)
        self._back_in(frame.f_back)

    def raised(self) -> None:
        """An exception in a frame of the user's: an optimizer step it interrupts never ends."""
        if self._steps.step_quiet is not None:
            self._steps.step_raised()

    def _back_in(self, caller: FrameType | None) -> None:
        """After a return the script is at its caller's line again: what happens next (the value
        printed by ``print(f(x))``, a cell's ``Out[n]``, ``theta = f(theta)``) belongs there."""
        if caller is not None and self._filter.kind(caller.f_code.co_filename) is _USER:
            self._recorder.where = (self._filter.display(caller.f_code.co_filename), caller.f_lineno)

    def line(self, frame: FrameType) -> None:
        """A line of the user's is about to run."""
        code = frame.f_code
        if self._watch:
            self.emit_watched(frame)
        if self._namer is not None:
            self._namer.line_started(frame)
        recorder = self._recorder
        where = recorder.where = (self._filter.display(code.co_filename), frame.f_lineno)
        variables = self._variables
        notes = self._line_notes.get((code.co_filename, frame.f_lineno), ()) if self._line_notes else ()
        if variables is None:
            recorder.emit(LineReached, where[0], where[1], function=code.co_name, notes=notes)
            return
        try:
            with _no_torch_function():
                scope = variables.look(frame)
        except Exception:  # never the script's failure: this line's event goes without its variables
            scope = None
        seq = recorder.emit(LineReached, where[0], where[1], function=code.co_name, scope=scope, notes=notes)
        if scope is not None:
            variables.recorded(scope, seq)

    def emit_watched(self, frame: FrameType | None, namespace: dict[str, Any] | None = None) -> None:
        """Watched variables changed by the line that just ran, attributed to that line."""
        file, line = self._recorder.where
        for name, value in self._watch.changes(frame, namespace):
            self._recorder.emit(ValueWatched, file, line, name=name, value=value)
