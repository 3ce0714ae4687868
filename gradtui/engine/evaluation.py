"""Evaluating what the user types at a pause, in the paused script's own frames.

The gate (``gradtui.engine.control``) calls ``Evaluator`` in the script's thread while it
waits, so grad mode, autocast and the frames are the script's. The frames are found by
walking the stack outward from here and keeping the script's own (the run's
``CodeFilter``), innermost first: ``frame=0`` is where the script is paused, ``1`` its
caller. The text runs in that frame's globals and locals with everything the engine
records suspended (``gradtui.engine.suspension``), and its value becomes a ``Var`` tree
as the variables panel shows values (``Describer``); ``detail`` adds the whole tensor as
torch prints it and a histogram (``gradtui.engine.tensor_detail``).

Decisions:

* An expression is evaluated in a copy of the frame's globals and locals merged into one
  namespace: a comprehension or lambda in it sees the frame's locals, and it cannot
  rebind the script's names (it can still call methods that change objects).
* Only an ``!`` statement rebinds names. It runs in the frame's own globals and locals
  (as pdb runs it); in a function frame on Python 3.11/3.12 the locals written are pushed
  back into the frame (``PyFrame_LocalsToFast``, as pdb does), on 3.13 they write
  through. The run then gets a note at the frame's line naming the statement.
* A statement typed without ``!`` is refused with a hint, before anything runs.
* Errors are one line (``NameError: name 'q' is not defined``), SystemExit and
  KeyboardInterrupt among them: nothing raised by the evaluated code reaches the
  script. Only ``StopScript`` (the driver stopping the run) goes through.
* What the evaluation prints is dropped (``Suspended``); ``input()`` raises in it.
"""

from __future__ import annotations

import ctypes
import inspect
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import torch

from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture
from gradtui.engine.control import StopScript
from gradtui.engine.recorder import Recorder
from gradtui.engine.suspension import StopWatch, Suspended
from gradtui.engine.tensor_detail import Histogram, full_repr, histogram
from gradtui.engine.var_values import Describer, NodeId
from gradtui.model.events import OutputWritten
from gradtui.model.reports import Evaluate, Evaluated

#: An error line is cut to this many characters.
MAX_ERROR = 300
_FILENAME = "<gradtui>"
#: Frames whose locals live in fast slots (a function's), which a statement must write back on 3.11/3.12.
_FAST_LOCALS = inspect.CO_OPTIMIZED
_WRITES_THROUGH = sys.version_info >= (3, 13)


def script_frames(start: FrameType | None, is_user: Callable[[str], bool]) -> list[FrameType]:
    """The script's own frames from ``start`` outwards, innermost first."""
    frames = []
    frame = start
    while frame is not None:
        if is_user(frame.f_code.co_filename):
            frames.append(frame)
        frame = frame.f_back
    return frames


def one_line(error: BaseException) -> str:
    """``NameError: name 'q' is not defined``: the type and message on one line, no traceback."""
    message = error.msg if isinstance(error, SyntaxError) else str(error)
    message = " ".join(str(message).split())
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def compile_text(text: str, statement: bool) -> CodeType | str:
    """The code to run, or the one-line reason it cannot run."""
    source = text.strip()
    if not source:
        return "nothing to evaluate: type an expression, or !statement"
    try:
        # dont_inherit: this module's ``from __future__`` must not change the user's code.
        return compile(source, _FILENAME, "exec" if statement else "eval", dont_inherit=True)
    except SyntaxError as error:
        if not statement and _is_statement(source):
            return f"{source} is a statement: type !{source} to run it (it changes the script's state)"
        return one_line(error)
    except (ValueError, OverflowError) as error:  # a null byte, a literal too large
        return one_line(error)


def _is_statement(source: str) -> bool:
    try:
        compile(source, _FILENAME, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, OverflowError):
        return False
    return True


class Evaluator:
    """Answers the driver's ``Evaluate`` at a pause; called by the gate in the script's thread."""

    def __init__(self, filter_is_user: Callable[[str], bool], capture: TensorCapture, node_id: NodeId,
                 recorder: Recorder, attribution: Attribution, state_changed: Callable[[], None] | None = None) -> None:
        """``state_changed`` is called after a statement ran (the namer forgets what it scanned)."""
        self._is_user = filter_is_user
        self._describer = Describer(capture, node_id)
        self._recorder = recorder
        self._attribution = attribution
        self._state_changed = state_changed

    def __call__(self, request: Evaluate) -> Evaluated:
        text = request.text
        frames = script_frames(sys._getframe(1), self._is_user)
        if not 0 <= request.frame < len(frames):
            return _failed(text, f"there is no frame {request.frame}: the script is {len(frames)} "
                                 f"frame{'s' if len(frames) != 1 else ''} deep here (0 is the innermost)")
        frame = frames[request.frame]
        code = compile_text(text, request.statement)
        if isinstance(code, str):
            return _failed(text, code)
        try:
            answer = self._run(request, code, frame)
        finally:
            del frames
        if request.statement and answer.error is None:
            self._note(text, frame)
        return answer

    def _run(self, request: Evaluate, code: CodeType, frame: FrameType) -> Evaluated:
        text = request.text
        stopping = self._recorder.gate
        with Suspended(self._attribution), StopWatch(lambda: stopping.stopping):
            try:
                value = _execute(code, frame, request.statement)
            except StopScript:
                raise
            except BaseException as error:  # SystemExit and KeyboardInterrupt too: never the script's end
                line = one_line(error)
                error.__traceback__ = None  # it holds the script's frames
                return _failed(text, line)
            if request.statement:
                return Evaluated(text=text, value=None, error=None, count=0)
            try:
                described = self._describer.describe(value)
                full: str | None = None
                bins: Histogram = ()
                if request.detail and isinstance(value, torch.Tensor):
                    full, bins = full_repr(value), histogram(value)
            except StopScript:
                raise
            except Exception as error:  # a value whose attributes raise when asked
                return _failed(text, f"the value could not be shown: {one_line(error)}")
        return Evaluated(text=text, value=described, error=None, count=0, full=full, histogram=bins)

    def _note(self, text: str, frame: FrameType) -> None:
        """The timeline says the state was changed by hand, at the frame's line (passes the gate unpaused)."""
        if self._state_changed is not None:
            self._state_changed()
        statement = " ".join(text.split())
        file, line = self._recorder.at(frame)
        self._recorder.emit(OutputWritten, file, line, stream="stderr",
                            text=f"gradtui: the script's state was changed by hand: {statement}\n",
                            notes=(f"The script's state was changed by hand at this pause: {statement}. "
                                   "What follows is not what the script alone would do.",))


def _execute(code: CodeType, frame: FrameType, statement: bool) -> Any:
    if not statement:
        namespace = {**frame.f_globals, **frame.f_locals}
        return eval(code, namespace)
    local = frame.f_locals
    exec(code, frame.f_globals, local)
    if not _WRITES_THROUGH and frame.f_code.co_flags & _FAST_LOCALS:
        ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
    return None


def _failed(text: str, error: str) -> Evaluated:
    return Evaluated(text=text, value=None, error=error, count=0)
