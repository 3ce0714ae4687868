"""A notebook cell's IPython-only lines, turned into Python line for line, or skipped with a note.

Jupyter cells may hold lines Python cannot compile: ``%magic``, ``%%cell_magic``,
``!shell`` and ``obj?`` help. IPython would run them; gradtui runs the notebook's Python
only, so each such line is rewritten in place (the line count never changes, so every
line event, breakpoint and traceback still points at the cell's own line):

- what is safe and means the same outside IPython runs: ``%time stmt`` and ``%timeit stmt``
  run ``stmt`` once (untimed), a ``%%time``/``%%timeit``/``%%capture`` cell runs its body,
  ``%env NAME=value`` sets the variable and ``%cd DIR`` changes the folder;
- everything else becomes ``pass`` with a note for the timeline: shell escapes
  (``!pip install …`` must not run on the user's machine behind their back), package
  installs, display set-up (``%matplotlib``), help, and magics gradtui does not know.

Only a line where a statement starts is looked at: a ``%`` inside brackets, a string or
after a backslash is Python's own. Imports no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

#: Cell magics whose body is plain Python that runs the same without the magic.
_BODY_RUNS: Final = {"time": "the cell runs once, untimed", "timeit": "the cell runs once, untimed",
                     "capture": "the cell runs; its output is shown, not captured"}
#: Line magics that only set up IPython's display or kernel: nothing to do outside it.
_DISPLAY_ONLY: Final = frozenset({"matplotlib", "config", "load_ext", "reload_ext", "unload_ext", "autoreload",
                                  "aimport", "precision", "xmode", "colors", "pprint", "autocall", "automagic"})
_INSTALLS: Final = frozenset({"pip", "conda", "mamba", "micromamba", "uv"})
_HELP: Final = re.compile(r"^(\?{1,2}[\w.]+|[\w.]+(\(\))?\?{1,2})$")
_ENV: Final = re.compile(r"^(?P<name>[A-Za-z_]\w*)(\s*=\s*|\s+)(?P<value>.*)$")
_TIMEIT_VALUED: Final = frozenset({"-n", "-r", "-p"})


@dataclass(slots=True)
class Cell:
    """A cell's lines as Python, and the notes of its rewritten lines (by line within the cell, from 1)."""

    lines: list[str]
    notes: dict[int, str] = field(default_factory=dict)


def python_lines(source: str) -> Cell:
    """``source`` (one cell) with its IPython-only lines rewritten; as many lines as it had."""
    lines = source.split("\n")
    out = Cell(list(lines))
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        _cell_magic(out, first)
        return out
    scanner = _Scanner()
    for i, line in enumerate(lines):
        if scanner.at_statement:
            stripped = line.strip()
            indent = line[: len(line) - len(line.lstrip())]
            if stripped and (stripped[0] in "%!?" or _HELP.match(stripped) or _shell_assignment(stripped)):
                out.lines[i], note = _line_magic(indent, stripped)
                if note:
                    out.notes[i + 1] = note
        scanner.feed(out.lines[i])
    return out


def _cell_magic(out: Cell, first: int) -> None:
    head = out.lines[first].strip()
    name = head[2:].split(maxsplit=1)[0] if len(head) > 2 else ""
    indent = out.lines[first][: len(out.lines[first]) - len(out.lines[first].lstrip())]
    out.lines[first] = indent + "pass"
    if name in _BODY_RUNS:
        out.notes[first + 1] = f"{head}: {_BODY_RUNS[name]} (IPython's %%{name} does not exist outside Jupyter)"
        return
    for i in range(first + 1, len(out.lines)):
        out.lines[i] = ""
    why = ("shell commands do not run under gradtui; run them in a terminal"
           if name in ("bash", "sh", "script", "system", "!") else "gradtui runs only the notebook's Python")
    out.notes[first + 1] = f"the %%{name} cell was skipped: {why}"


def _line_magic(indent: str, stripped: str) -> tuple[str, str | None]:
    """The Python for one IPython line, and its note (None: it runs as IPython would run it)."""
    if stripped.startswith("!") or _shell_assignment(stripped):
        return indent + "pass", (f"skipped {_cut(stripped)}: shell commands do not run under gradtui; "
                                 "run them in a terminal")
    if stripped.startswith("?") or stripped.endswith("?"):
        return indent + "pass", f"skipped {_cut(stripped)}: IPython's help (?) is not run"
    word, _, rest = stripped.lstrip("%").partition(" ")
    rest = rest.strip()
    if word in ("time", "timeit") and rest:
        statement = _timeit_statement(rest) if word == "timeit" else rest
        return indent + statement, f"%{word}: the statement runs once, untimed"
    if word == "env" and (m := _ENV.match(rest)):
        return indent + f"__import__('os').environ.__setitem__({m['name']!r}, {m['value']!r})", None
    if word == "cd" and rest:
        folder = rest.strip("\"'")
        return indent + f"__import__('os').chdir(__import__('os').path.expanduser({folder!r}))", None
    if word in _INSTALLS:
        return indent + "pass", f"skipped {_cut(stripped)}: package installs do not run under gradtui"
    if word in _DISPLAY_ONLY:
        return indent + "pass", f"skipped {_cut(stripped)}: it sets up Jupyter, nothing to do here"
    return indent + "pass", f"skipped {_cut(stripped)}: an IPython magic gradtui does not run"


def _timeit_statement(rest: str) -> str:
    words = rest.split()
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in _TIMEIT_VALUED else 1
    return " ".join(words[i:]) or "pass"


def _shell_assignment(stripped: str) -> bool:
    """``files = !ls``: IPython's shell capture."""
    return bool(re.match(r"^[A-Za-z_][\w, ]*=\s*!", stripped))


def _cut(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


class _Scanner:
    """Whether the next line starts a statement: not inside brackets, a string or a backslash continuation."""

    def __init__(self) -> None:
        self._depth = 0
        self._quote: str | None = None  # the open triple quote, if any
        self._continued = False

    @property
    def at_statement(self) -> bool:
        return self._depth == 0 and self._quote is None and not self._continued

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        while i < n:
            if self._quote is not None:
                end = line.find(self._quote, i)
                while end > 0 and _escaped(line, end):
                    end = line.find(self._quote, end + 1)
                if end < 0:
                    break
                i, self._quote = end + 3, None
                continue
            ch = line[i]
            if ch == "#":
                break
            if ch in "'\"":
                if line.startswith(ch * 3, i):
                    self._quote, i = ch * 3, i + 3
                    continue
                end = i + 1
                while end < n and (line[end] != ch or _escaped(line, end)):
                    end += 1
                i = end + 1
                continue
            if ch in "([{":
                self._depth += 1
            elif ch in ")]}":
                self._depth = max(0, self._depth - 1)
            i += 1
        self._continued = self._quote is None and line.rstrip().endswith("\\")


def _escaped(line: str, at: int) -> bool:
    backslashes = 0
    while at - backslashes - 1 >= 0 and line[at - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
