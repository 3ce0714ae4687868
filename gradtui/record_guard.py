"""Where ``--record`` may write: never over the user's own code or data.

``gradtui --record train.py train.py`` (a user who forgot the output name) used to
replace the script with its own timeline. The output is checked before anything runs:
it may not be the script (under any spelling: a relative path, a symlink, a hard link),
nor a file the script imports from its folder, found by reading the script's imports with
``ast`` (and those of the modules it imports from there), never by running them. An
existing regular file must already be a gradtui recording, unless ``--force``; the
script and its imports are refused even then. A recording is a JSON timeline or a
recording database (``gradtui.model.store``): an SQLite file whose ``meta`` table names
the format; any other SQLite file is the user's data. Devices and pipes (``/dev/null``) are
written through, as before; an empty file holds nothing to lose and may be written
(``--record "$(mktemp)"`` creates one first).

Imports neither torch nor the engine: ``gradtui`` answers before torch is loaded.
"""

from __future__ import annotations

import ast
import os
import re
import sqlite3
from collections.abc import Iterator
from importlib.machinery import all_suffixes
from pathlib import Path

from gradtui.model.store.schema import FORMAT_NAME as RECORDING_FORMAT
from gradtui.model.store.schema import SQLITE_MAGIC
from gradtui.model.timeline import FORMAT_NAME

#: The codec writes ``format`` first; any JSON spacing is accepted.
_MARKER = re.compile(rb'\A\s*\{\s*"format"\s*:\s*"' + re.escape(FORMAT_NAME.encode()) + rb'"')
#: More files than a script's own package ever has: the walk stays cheap on a huge tree.
_MAX_FILES = 5000


def record_problem(out: str, script: str, source: str, *, force: bool = False) -> str | None:
    """Why ``--record out`` must not write for ``script`` (whose text is ``source``), or None."""
    if os.path.exists(out) and not os.path.isfile(out):
        return None  # a device or a pipe: written through, nothing is replaced
    stem = os.path.splitext(os.path.basename(script))[0]
    advice = f"give the output a name like {stem}.json"
    if _same(out, script):
        return f"--record {out} would overwrite the script itself; {advice}"
    folder = os.path.dirname(os.path.abspath(script))
    for path, module in imported_files(folder, script, source):
        if _same(out, path):
            what = "overwrite" if os.path.exists(path) else "shadow"
            return (f"--record {out} would {what} {os.path.relpath(path, folder)}, which "
                    f"{os.path.basename(script)} imports (as {module}); {advice}")
    if os.path.isfile(out) and os.path.getsize(out) > 0 and not force and not is_recording(out):
        return (f"--record {out} would overwrite a file that is not a gradtui recording; "
                f"choose another name, or add --force to replace it")
    return None


def is_recording(path: str) -> bool:
    """True when the file is a gradtui timeline (its first bytes) or a recording database (its ``meta``)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    if head.startswith(SQLITE_MAGIC):
        return _is_recording_database(path)
    return _MARKER.match(head) is not None


def _is_recording_database(path: str) -> bool:
    """Whether the SQLite file's ``meta`` table says it is a gradtui recording (of any version).

    Opened read-only; a database that cannot be read, or has no such table, is not one.
    """
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.Error:
        return False
    finally:
        db.close()
    return row is not None and row[0] == RECORDING_FORMAT


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return os.path.realpath(a) == os.path.realpath(b)


def imported_files(folder: str, script: str, source: str) -> Iterator[tuple[str, str]]:
    """(path, module) of each file in ``folder`` that the script's imports would load.

    A module ``name`` of the folder is ``name.py`` (or any importable suffix); a package
    ``name/`` counts with every Python file under it. A module that does not exist yet
    is yielded as ``name.py``: writing a timeline there would shadow what the script
    imports. The modules found are read in turn, so ``helpers`` importing ``data`` counts.
    """
    seen_names: set[str] = set()
    pending = [(script, source, 0)]
    read: set[str] = {os.path.realpath(script)}
    budget = _MAX_FILES
    while pending:
        path, text, depth = pending.pop()
        for name in _top_level_names(text, path, depth):
            if name in seen_names:
                continue
            seen_names.add(name)
            for found, found_depth in _module_files(folder, name):
                budget -= 1
                if budget < 0:
                    return
                yield found, name
                real = os.path.realpath(found)
                if found.endswith(".py") and real not in read and os.path.isfile(found):
                    read.add(real)
                    try:
                        with open(found, encoding="utf-8") as fh:
                            pending.append((found, fh.read(), found_depth))
                    except (OSError, UnicodeDecodeError):
                        pass


def _module_files(folder: str, name: str) -> Iterator[tuple[str, int]]:
    """The files of ``folder`` that ``import name`` could load, with their depth in it."""
    listed = False
    for suffix in all_suffixes():
        candidate = os.path.join(folder, name + suffix)
        if os.path.isfile(candidate):
            listed = True
            yield candidate, 0
    package = os.path.join(folder, name)
    if os.path.isdir(package):
        listed = True
        for root, dirs, files in os.walk(package):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
            depth = os.path.relpath(root, folder).count(os.sep) + 1
            for file in sorted(files):
                if file.endswith(".py"):
                    yield os.path.join(root, file), depth
    if not listed:
        yield os.path.join(folder, name + ".py"), 0


def _top_level_names(source: str, path: str, depth: int) -> Iterator[str]:
    """First components of the modules ``source`` imports from the script's folder.

    ``depth`` is how deep ``path`` lies below the folder (0 for the script and its sibling
    modules): a relative import that climbs exactly to the folder names its modules; one
    that stays inside a package needs nothing, the whole package is counted already.
    """
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module:
                    yield node.module.split(".")[0]
            elif depth - (node.level - 1) <= 0:  # from the folder itself (or a script's "from . import x")
                if node.module:
                    yield node.module.split(".")[0]
                else:
                    yield from (alias.name for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            # __import__("helpers") and importlib.import_module("helpers"), spelled as constants
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                yield node.args[0].value.split(".")[0]
