"""Showing the script's own traceback, as ``python SCRIPT`` would, without gradtui in it.

The script runs under gradtui's runner and through gradtui's hooks, so a raw traceback
would start in gradtui and pass through it wherever a torch operation raised. The user
must see only their program (and the library code it called), so gradtui's frames are
cut out of every traceback in the exception chain before it is printed or recorded.
In a notebook, a frame names its cell as IPython does (``File "t.ipynb", In [24], line 2``).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from types import TracebackType

from gradtui.model.cells import CellMap


def _strip(tb: TracebackType | None, is_engine: Callable[[str], bool]) -> TracebackType | None:
    frames = []
    in_engine = False
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        # Generated code called by gradtui (an event dataclass's ``__init__`` is "<string>")
        # is gradtui's too.
        if is_engine(filename) or (in_engine and filename.startswith("<")):
            in_engine = True
        else:
            in_engine = False
            frames.append(tb)
        tb = tb.tb_next
    rebuilt: TracebackType | None = None
    for t in reversed(frames):
        rebuilt = TracebackType(rebuilt, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return rebuilt


def strip_engine_frames(exc: BaseException, is_engine: Callable[[str], bool]) -> None:
    """Remove gradtui's frames from ``exc`` and every exception chained to it, in place."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        e.__traceback__ = _strip(e.__traceback__, is_engine)
        todo.extend((e.__cause__, e.__context__))


def script_location(exc: BaseException, is_user: Callable[[str], bool]) -> tuple[str, int] | None:
    """The innermost (file, line) of the script's own code in ``exc``'s traceback."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if is_user(filename):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    if found is None and isinstance(exc, SyntaxError) and exc.filename and is_user(exc.filename):
        found = (exc.filename, exc.lineno or 0)
    return found


def format_exception(exc: BaseException, notebook: tuple[str, str, CellMap] | None = None) -> str:
    """The traceback as Python prints it; ``notebook`` (its file name in code, as shown, its cells)
    makes its frames name their cell and the line in it."""
    text = "".join(traceback.format_exception(exc))
    if notebook is None:
        return text
    filename, shown, cells = notebook

    def in_cell(match: re.Match[str]) -> str:
        where = cells.place(int(match.group(1)))
        return f'File "{shown}", {where}' if where else match.group(0)

    return re.sub(rf'File "{re.escape(filename)}", line (\d+)', in_cell, text)
