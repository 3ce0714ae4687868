"""Shared fixtures: run a script through the engine, headless, to the end.

Environment variables that change how the terminal app renders (colour, size, theme)
are removed for every test, so snapshots and Pilot tests see the same screen anywhere.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
SCRIPTS = Path(__file__).resolve().parent / "scripts"

for _var in ("NO_COLOR", "COLUMNS", "LINES", "TEXTUAL_THEME", "FORCE_COLOR"):
    os.environ.pop(_var, None)

# The same arithmetic on every machine, as far as torch lets a test ask for it: kernels
# without CPU-specific vector code, one thread, MKL's reproducible mode. A gradient whose
# true mean is 0 shows its rounding noise (mean=5.3e-11 on one CPU, 3.7e-11 on another),
# and snapshots show it. Set before torch is first imported, inherited by subprocesses.
os.environ.update(ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1", MKL_CBWR="COMPATIBLE")
# Automatic recordings of the debugger and of --record OUT.json go to a folder of the
# test run's own, never to the user's cache, removed when the run ends (by the process
# that made it: the run's subprocesses inherit the variable and leave the folder be).
if "GRADTUI_CACHE_DIR" not in os.environ:
    os.environ["GRADTUI_CACHE_DIR"] = tempfile.mkdtemp(prefix="gradtui-test-cache-")
    atexit.register(shutil.rmtree, os.environ["GRADTUI_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(autouse=True)
def _clean_render_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("NO_COLOR", "COLUMNS", "LINES", "TEXTUAL_THEME", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    yield


RunScript = Callable[..., "object"]


@pytest.fixture
def run_script(tmp_path_factory: pytest.TempPathFactory) -> RunScript:
    """``run_script(path, *args, max_values=64)`` -> the finished ``Timeline``, as its recording reads back.

    The run is recorded as ``gradtui --record`` records it, and the timeline returned is
    the one the file gives (events decoded from their rows, the graph from its table), so
    every engine test checks the recording too. ``in_memory=True`` gives the engine's own
    timeline instead, for a test about the engine's memory itself.
    """
    from gradtui.engine.script import load_script
    from gradtui.engine.session import Session
    from gradtui.model.store.reader import Recording

    count = 0

    def run(path: str | Path, *args: str, max_values: int = 64, budget_bytes: int | None = None,
            in_memory: bool = False) -> object:
        nonlocal count
        count += 1
        kwargs = {} if budget_bytes is None else {"budget_bytes": budget_bytes}
        out = None if in_memory else tmp_path_factory.mktemp("recordings") / f"run-{count}.db"
        session = Session(load_script(str(path)), list(args), max_values=max_values, record=out, **kwargs)
        session.start()
        assert session.join(60), f"{path} did not finish within 60 s"
        if out is None:
            return session.timeline
        session.close_recording()
        return Recording(out).timeline()

    return run


def pytest_configure(config: pytest.Config) -> None:
    # The scripts import their sibling modules; keep the test process's own path clean.
    sys.dont_write_bytecode = True
    # A few screens differ by Python version (test_graph_panel, test_script_error) and keep a
    # baseline per version, the other version's test skipped: syrupy counts a skipped test's
    # baseline as unused and would fail the run, so unused baselines are warned about instead.
    # (``--snapshot-update`` still deletes them: restore the other versions' from git after.)
    if hasattr(config.option, "warn_unused_snapshots"):
        config.option.warn_unused_snapshots = True
