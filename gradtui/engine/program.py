"""What the engine runs: a script or a notebook, read and compiled (``Script``), and why it cannot be.

``gradtui.engine.script`` reads a Python file into it, ``gradtui.engine.notebook`` a
notebook; the runner only ever sees this. Imports no torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import CodeType

from gradtui.model.cells import NOTEBOOK_SUFFIX, CellMap


class ScriptError(Exception):
    """The script cannot be run; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Part:
    """Code run in the script's namespace; ``out`` names the value it shows, like Jupyter's ``Out[24]``."""

    code: CodeType
    #: Set for a cell's last bare expression, compiled to hand its value to ``sys.displayhook``.
    out: str | None = None


def _no_notes() -> Mapping[int, str]:
    return {}


@dataclass(frozen=True, slots=True)
class Script:
    """A script ready to run: where it is, its text as shown, and its compiled code in order.

    ``source`` is what the user sees and the timeline keeps; for a notebook it is the
    cells in the percent format (``gradtui.model.cells``), whose line numbers are the
    compiled code's.
    """

    path: str
    source: str
    parts: tuple[Part, ...]
    #: Notes for lines gradtui rewrote before running them (a notebook's ``!pip …``), by line.
    line_notes: Mapping[int, str] = field(default_factory=_no_notes)
    #: The cells of a notebook or a ``# %%`` script; None for a plain script.
    cells: CellMap | None = None
    #: The Python that runs, line for line, where it differs from ``source`` (a notebook's magics rewritten).
    python: str | None = None
    #: The name the compiled code carries (its ``co_filename``): the absolute path when it was
    #: read, which stays right while a notebook runs in its own folder.
    filename: str = ""

    def __post_init__(self) -> None:
        if not self.filename:
            object.__setattr__(self, "filename", os.path.abspath(self.path))

    @property
    def folder(self) -> str:
        return os.path.dirname(self.filename)

    @property
    def is_notebook(self) -> bool:
        return self.path.endswith(NOTEBOOK_SUFFIX)
