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
# A code object's role in ``user_op_frame``: the script's own; an end of the search (gradtui,
# optimizers, autograd, a step or zero_grad the script defines); torch's operator wrappers,
# walked through; a library module's ``forward``; any other library code.
_OURS, _STOP, _THROUGH, _FORWARD, _LIBRARY = range(5)
_ROLES_SIZE = 65536


class Attribution:
    """Attributes calls to the script's thread, frames and code, for one run."""

    def __init__(self, code_filter: CodeFilter) -> None:
        self.filter = code_filter
        self._quiet_codes: set[CodeType] = set()
        #: What each code object is to ``user_op_frame`` (one lookup per frame of every op's walk).
        self._roles: dict[CodeType, int] = {}
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
            self._roles[code] = _STOP

    def user_op_frame(self, frame: FrameType | None) -> FrameType | None:
        """The script's frame that called this operation, or None if it is not the script's.

        An operation called straight from the script's code, or through torch's operator
        wrappers (``**`` goes through ``torch/_tensor.py``), is the script's. So is one
        made inside a module's ``forward`` (``nn.Linear`` calling ``linear``): that is the
        computation the script asked for. Operations inside other library code (a
        module's ``__init__`` filling its weights), optimizers, autograd or gradtui are not.
        """
        roles = self._roles
        only_wrappers = True
        in_forward = False
        while frame is not None:
            code = frame.f_code
            role = roles.get(code)
            if role is None:
                role = self._role(code)
            if role == _OURS:
                return frame if only_wrappers or in_forward else None
            if role == _STOP:
                return None
            if role != _THROUGH:
                only_wrappers = False
                if role == _FORWARD:
                    in_forward = True
            frame = frame.f_back
        return None

    def _role(self, code: CodeType) -> int:
        """``code``'s role in attributing an op, by its file (and name: a library ``forward``)."""
        if code in self._quiet_codes:
            role = _STOP
        else:
            k = self.filter.kind(code.co_filename)
            if k is _USER:
                role = _OURS
            elif k in _STOPPERS:
                role = _STOP
            elif k is _WRAPPER:
                role = _THROUGH
            else:
                role = _FORWARD if code.co_name == "forward" else _LIBRARY
        if len(self._roles) >= _ROLES_SIZE:  # code made at run time (exec in a loop) is let go
            self._roles.clear()
        self._roles[code] = role
        return role

    def user_frame(self, frame: FrameType | None) -> FrameType | None:
        """The innermost frame of the script's own code, wherever the call came from."""
        is_user = self.filter.is_user
        while frame is not None and not is_user(frame.f_code.co_filename):
            frame = frame.f_back
        return frame
