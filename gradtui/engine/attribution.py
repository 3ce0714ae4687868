"""Whose code is running: the script's thread, the script's frame, the script's operation.

Every hook (the function mode, backward, zero_grad, step, ``Function.apply``, ``input``)
first asks here whether the call is the script's own, and at which of its frames, before
it records anything: torch's Python code, optimizers, autograd and gradtui itself make
torch calls too, and so do other threads and forked children. This module only answers;
it records nothing and holds no events.
"""

from __future__ import annotations

import os
import threading
from types import CodeType, FrameType

from gradtui.engine.codefilter import CodeFilter, CodeKind

_USER = CodeKind.USER
_WRAPPER = CodeKind.WRAPPER
_STOPPERS = (CodeKind.ENGINE, CodeKind.QUIET)


class Attribution:
    """Attributes calls to the script's thread, frames and code, for one run."""

    def __init__(self, code_filter: CodeFilter) -> None:
        self.filter = code_filter
        self._quiet_codes: set[CodeType] = set()
        self._thread_id: int | None = None
        self._pid = os.getpid()
        #: True while gradtui evaluates an expression at a pause (``gradtui.engine.suspension``).
        self.suspended = False

    def enter_script_thread(self) -> int:
        """Called first thing in the script's thread; returns its ident."""
        self._thread_id = threading.get_ident()
        self._pid = os.getpid()
        return self._thread_id

    def in_script_thread(self) -> bool:
        """True in the script's thread (not in a process it forked, not while an evaluation suspends it)."""
        return threading.get_ident() == self._thread_id and os.getpid() == self._pid and not self.suspended

    def is_engine_file(self, filename: str) -> bool:
        return self.filter.kind(filename) is CodeKind.ENGINE or filename.endswith("torch/overrides.py")

    def note_quiet_code(self, func: object) -> None:
        """Operations inside ``func`` (a step or zero_grad the script defines) are not ops."""
        while hasattr(func, "__wrapped__"):
            func = func.__wrapped__
        code = getattr(func, "__code__", None)
        if isinstance(code, CodeType) and self.filter.is_user(code.co_filename):
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
