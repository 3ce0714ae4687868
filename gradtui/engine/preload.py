"""Importing torch's lazily loaded parts in the background while the user reads the screen.

The first optimizer a script constructs makes torch import ``torch._dynamo`` (about 1.4 s
here). Under the debugger that would freeze one key press for over a second, in the
middle of stepping. The interactive driver starts this import on a daemon thread as soon
as the app opens; if the script gets there first, Python's import lock makes it wait for
the same import rather than run it twice. Headless runs skip it: they pay what plain
``python`` would pay, when it would pay it.

What plain ``python`` pays is less than the script's thread would: there the trace
function is called for each of the hundreds of thousands of frames the import runs
(on Python 3.11 that more than doubled it, more than a 1,000-step training loop
costs). ``UntracedImports`` runs these modules' code with the thread's trace function
off; none of it is the script's, and the script's own frames are traced as before.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradtui.engine.patches import Patches

#: Modules torch imports on first use that cost a noticeable pause.
LAZY_MODULES = ("torch._dynamo",)


def preload_in_background() -> threading.Thread:
    def run() -> None:
        for name in LAZY_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a missing optional part only costs the pause
                pass

    thread = threading.Thread(target=run, name="gradtui-preload", daemon=True)
    thread.start()
    return thread


class _UntracedLoader(importlib.abc.Loader):
    """Runs another loader's module code with this thread's trace function off."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:  # get_filename, get_resource_reader, ...: the real loader's
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create: Callable[[importlib.machinery.ModuleSpec], ModuleType | None] | None = getattr(
            self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        trace = sys.gettrace()
        sys.settrace(None)
        try:
            self._loader.exec_module(module)
        finally:
            if trace is not None:
                sys.settrace(trace)


class UntracedImports(importlib.abc.MetaPathFinder):
    """A ``PatchSet``: while the run lasts, ``LAZY_MODULES`` are imported untraced."""

    def __init__(self, names: tuple[str, ...] = LAZY_MODULES) -> None:
        self._names = frozenset(names)
        self._finding = False

    def install(self, patches: Patches) -> None:
        sys.meta_path.insert(0, self)

        def undo() -> None:
            if self in sys.meta_path:
                sys.meta_path.remove(self)

        patches.on_remove(undo)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._names or self._finding or sys.gettrace() is None:
            return None
        self._finding = True  # the other finders find the module itself
        try:
            for finder in sys.meta_path:
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target) if find is not None else None
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._finding = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _UntracedLoader(spec.loader)
        return spec
