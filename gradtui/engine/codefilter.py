"""Which code is the user's: decides what is traced, recorded, and how files are named.

Every decision the engine makes about "is this the script's own operation?" comes down
to the file a frame runs in. The answer is cached per file name, because it is asked for
every Python call and every torch operation the script makes.

User code is the script and any file under the script's folder, except installed
packages (a project's ``.venv`` often lives there). Inside torch, the optimizers,
autograd internals, data loading and the compiler are *quiet*: operations they perform
are implementation details, never attributed to the user's line that called them.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from enum import Enum
from pathlib import Path

import gradtui


class CodeKind(Enum):
    USER = "user"
    ENGINE = "engine"
    QUIET = "quiet"
    #: torch's Python wrappers of single operations (operators, ``torch.functional``).
    WRAPPER = "wrapper"
    OTHER = "other"


_QUIET_PARTS = tuple(
    os.sep + os.path.join("torch", part) + os.sep
    for part in ("optim", "autograd", os.path.join("utils", "data"), "_dynamo", "_inductor", "_functorch")
)


_WRAPPER_FILES = tuple(
    os.sep + os.path.join("torch", *name.split("/"))
    for name in ("_tensor.py", "overrides.py", "functional.py", "nn/functional.py", "_jit_internal.py")
)


def _install_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            roots.add(sysconfig.get_path(key))
        except KeyError:  # pragma: no cover - depends on the platform's scheme
            pass
    return tuple(sorted({os.path.realpath(r) + os.sep for r in roots if r}))


class CodeFilter:
    """Classifies code by file name, relative to the script being debugged."""

    def __init__(self, script: str | os.PathLike[str]) -> None:
        self.script = os.path.realpath(script)
        self.root = os.path.dirname(self.script) + os.sep
        self._engine_root = os.path.realpath(os.path.dirname(gradtui.__file__)) + os.sep
        self._install_roots = _install_roots()
        self._kinds: dict[str, CodeKind] = {}
        self._display: dict[str, str] = {}

    def kind(self, filename: str) -> CodeKind:
        kind = self._kinds.get(filename)
        if kind is None:
            kind = self._kinds[filename] = self._classify(filename)
        return kind

    def is_user(self, filename: str) -> bool:
        return self.kind(filename) is CodeKind.USER

    def _classify(self, filename: str) -> CodeKind:
        if not filename or filename.startswith("<"):
            return CodeKind.OTHER
        path = os.path.realpath(filename)
        if path.startswith(self._engine_root):
            return CodeKind.ENGINE
        if any(part in path for part in _QUIET_PARTS):
            return CodeKind.QUIET
        if path.endswith(_WRAPPER_FILES):
            return CodeKind.WRAPPER
        if path == self.script:
            return CodeKind.USER
        installed = "site-packages" in path or "dist-packages" in path
        if path.startswith(self.root) and not installed and not path.startswith(self._install_roots):
            return CodeKind.USER
        return CodeKind.OTHER

    def display(self, filename: str) -> str:
        """The name a timeline uses for a file: relative to the script's folder when inside it."""
        name = self._display.get(filename)
        if name is None:
            path = os.path.realpath(filename)
            name = Path(os.path.relpath(path, self.root)).as_posix() if path.startswith(self.root) else path
            self._display[filename] = name
        return name
