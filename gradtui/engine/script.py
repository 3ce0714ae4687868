"""Reading and compiling the user's script before anything runs.

Bad input must be answered before the engine starts a thread or imports torch: a
missing file, a directory, a binary file or a syntax error each get one sentence naming
the file (and for a syntax error the line), which the command line prints as it is.
A notebook (``.ipynb``) is read by ``gradtui.engine.notebook`` into the same ``Script``:
its code cells are ``parts`` run one after another in one namespace. Imports no torch.
"""

from __future__ import annotations

import io
import os
import tokenize
from pathlib import Path

from gradtui.engine.notebook import load_notebook
from gradtui.engine.program import Part, Script, ScriptError
from gradtui.model.cells import NOTEBOOK_SUFFIX, parse_cells

__all__ = ["Part", "Script", "ScriptError", "load_script"]


def load_script(path: str) -> Script:
    p = Path(path)
    if p.suffix == NOTEBOOK_SUFFIX and p.is_file():
        return load_notebook(path)
    if not p.exists():
        raise ScriptError(f"{path}: no such file")
    if p.is_dir():
        raise ScriptError(f"{path}: is a directory; give the Python script to run")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScriptError(f"{path}: cannot be read ({exc.strerror})") from None
    if b"\0" in raw:
        raise ScriptError(f"{path}: is a binary file, not a Python script")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        source = raw.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        raise ScriptError(f"{path}: is not Python text (it is not valid UTF-8 or its declared encoding)") from None
    try:
        code = compile(source, os.path.abspath(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = f":{exc.lineno}" if exc.lineno else ""
        raise ScriptError(f"{path}{line}: {type(exc).__name__}: {exc.msg}") from None
    except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
        raise ScriptError(f"{path}: cannot be compiled ({exc})") from None
    return Script(path=path, source=source, parts=(Part(code),), cells=parse_cells(source))
