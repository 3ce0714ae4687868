"""Putting torch's warnings back on the script's line.

A warning torch raises from C++ (``.grad`` read on a non-leaf tensor, for one) is
attributed to the innermost Python frame, which under gradtui is the function mode's
handler. Python would have named the script's line, and shown it once per line. While
a run is active, ``warnings.showwarning`` is wrapped: a warning located in gradtui's own
code, in the script's thread, is moved to the script's frame and shown once per script
location, as Python's default filter would. A warning in a notebook names its cell
(``lesson.ipynb, In [4]:2: UserWarning: …``), as the user finds the line there.
"""

from __future__ import annotations

import linecache
import sys
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any


class WarningRelocator:
    def __init__(
        self,
        in_script_thread: Callable[[], bool],
        is_engine_file: Callable[[str], bool],
        user_frame: Callable[[FrameType | None], FrameType | None],
        in_cell: Callable[[str, int], tuple[str, int] | None] | None = None,
    ) -> None:
        """``in_cell(filename, line)``: the (cell's name, line in it) to show for a notebook's line, or None."""
        self._in_cell = in_cell
        self._in_script_thread = in_script_thread
        self._is_engine_file = is_engine_file
        self._user_frame = user_frame
        self._shown: set[tuple[str, type, str, int]] = set()
        self._saved: Any = None

    def install(self) -> None:
        self._saved = warnings.showwarning
        warnings.showwarning = self._show

    def remove(self) -> None:
        if warnings.showwarning == self._show:
            warnings.showwarning = self._saved

    def _show(self, message: Any, category: type[Warning], filename: str, lineno: int,
              file: Any = None, line: str | None = None) -> None:
        if self._in_script_thread() and self._is_engine_file(filename):
            # The engine frame's module registry now says "shown at the handler's line",
            # which would hide the same warning from every other script line: forget it.
            engine: FrameType | None = sys._getframe(1)
            while engine is not None and engine.f_code.co_filename != filename:
                engine = engine.f_back
            if engine is not None:
                engine.f_globals.get("__warningregistry__", {}).clear()
            frame = self._user_frame(sys._getframe(1))
            if frame is not None:
                filename, lineno, line = frame.f_code.co_filename, frame.f_lineno, None
            key = (str(message), category, filename, lineno)
            if key in self._shown:
                return
            self._shown.add(key)
        named = self._in_cell(filename, lineno) if self._in_cell is not None else None
        if named is not None:
            line = linecache.getline(filename, lineno) if line is None else line
            filename, lineno = named
        self._saved(message, category, filename, lineno, file, line)
