"""The layering: model (no torch, no textual) <- engine (torch, no textual) <- ui.

Checked twice: dynamically, by importing modules in a fresh interpreter and looking at
``sys.modules``; and statically, by reading every ``import`` statement of the package.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "gradtui"


def modules_after_import(*modules: str) -> set[str]:
    """Top-level packages present in ``sys.modules`` after importing ``modules`` afresh."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


def test_the_forbidden_packages_are_installed() -> None:
    """Otherwise the checks below would pass for the wrong reason."""
    present = modules_after_import("torch", "textual.app")
    assert {"torch", "textual"} <= present


def test_model_imports_neither_torch_nor_textual() -> None:
    loaded = modules_after_import("gradtui.model", "gradtui.model.codec", "gradtui.model.formatting",
                                  "gradtui.model.timeline", "gradtui.model.events", "gradtui.model.tensors")
    assert "gradtui" in loaded
    assert "torch" not in loaded
    assert "textual" not in loaded


def test_engine_and_headless_do_not_import_textual() -> None:
    loaded = modules_after_import("gradtui.engine.session", "gradtui.headless")
    assert "torch" in loaded  # the engine is the torch layer
    assert "textual" not in loaded


def test_cli_does_not_import_torch() -> None:
    loaded = modules_after_import("gradtui.cli", "gradtui.__main__")
    assert "torch" not in loaded, "`gradtui --help` would pay for importing torch"
    assert "textual" not in loaded


# ---------------------------------------------------------------- static check


def imported_modules(path: Path, pretend: Path | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, at any depth.

    Relative imports are resolved as if the file were at ``pretend`` (default: ``path``).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package_parts = (pretend or path).relative_to(REPO).with_suffix("").parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def forbidden_imports(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if top in forbidden:
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {module}")
    return bad


def test_static_model_layer() -> None:
    files = list((PACKAGE / "model").rglob("*.py"))
    assert len(files) >= 5
    assert forbidden_imports(PACKAGE / "model", ("torch", "textual")) == []


def test_static_engine_layer() -> None:
    files = list((PACKAGE / "engine").rglob("*.py"))
    assert len(files) >= 5
    assert forbidden_imports(PACKAGE / "engine", ("textual",)) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import torch\n", ["torch"]),
        ("import torch.nn as nn\n", ["torch.nn"]),
        ("from torch import nn\n", ["torch", "torch.nn"]),
        ("def f():\n    from textual.app import App\n", ["textual.app", "textual.app.App"]),
        ("try:\n    import textual\nexcept ImportError:\n    pass\n", ["textual"]),
        ("import json, os\n", ["json", "os"]),
        ("from . import events\n", ["gradtui.model", "gradtui.model.events"]),
        ("from ..engine import session\n", ["gradtui.engine", "gradtui.engine.session"]),
    ],
)
def test_the_static_check_sees_imports(tmp_path: Path, source: str, expected: list[str]) -> None:
    """The checker itself: it finds imports at any depth, in every spelling."""
    fake = REPO / "gradtui" / "model" / "_not_a_file_.py"
    path = tmp_path / "mod.py"
    path.write_text(source)
    tree_modules = [m for _, m in imported_modules(path, fake)]
    assert tree_modules == expected


def test_ui_imports_no_torch_so_replay_works_without_it() -> None:
    loaded = modules_after_import("gradtui.ui.app", "gradtui.model.codec")
    assert "textual" in loaded
    assert "torch" not in loaded, "--replay must open where torch is not installed"


REPLAY_WITHOUT_TORCH = """\
import asyncio, sys
sys.modules["torch"] = None  # any import of torch from here on fails
from gradtui.run_files import open_run
from gradtui.ui.app import GradtuiApp
from tests.apptools import panel_text, press, started

async def main():
    app = GradtuiApp(open_run(sys.argv[1]), None, theme="textual-dark")
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await press(pilot, "c")
        print(" ".join(panel_text(app, "#grads").split()))
        await pilot.press("q")

asyncio.run(main())
print(sorted(m for m in ("torch", "gradtui.engine") if sys.modules.get(m) is not None))
"""


def test_a_recording_is_replayed_where_torch_cannot_be_imported(tmp_path: Path) -> None:
    """--replay of a recording (an SQLite file) needs no torch, as of a JSON timeline."""
    recorded = tmp_path / "run.json"
    r = subprocess.run([sys.executable, "-m", "gradtui", "--record", str(recorded), "scenarios/accumulation.py"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    from gradtui.model import codec
    from gradtui.model.store.export import write_timeline

    write_timeline(codec.load(recorded), tmp_path / "run.db")
    r = subprocess.run([sys.executable, "-c", REPLAY_WITHOUT_TORCH, str(tmp_path / "run.db")], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    grads, loaded = r.stdout.strip().splitlines()[-2:]
    assert "theta.grad None → 2 → 4 → 6 → 8" in grads  # the tutorial's accumulation
    assert loaded == "[]"


def test_static_ui_layer() -> None:
    """The app renders model values: no torch, and nothing of the engine (commands are the model's)."""
    assert forbidden_imports(PACKAGE / "ui", ("torch",)) == []
    engine_uses = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path in sorted((PACKAGE / "ui").rglob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith("gradtui.engine")
    ]
    assert engine_uses == []


def test_nothing_below_imports_the_ui() -> None:
    for layer in ("model", "engine"):
        bad = [
            f"{path.relative_to(REPO)}:{line}: {module}"
            for path in sorted((PACKAGE / layer).rglob("*.py"))
            for line, module in imported_modules(path)
            if module.startswith("gradtui.ui") or module in ("gradtui.interactive", "gradtui.cli")
        ]
        assert bad == [], layer


# ---------------------------------------------------------------- no import circles


def import_graph() -> dict[str, set[str]]:
    """``gradtui`` module -> the ``gradtui`` modules it imports, from every import statement
    (also under ``if TYPE_CHECKING:`` and inside functions: a circle there is still a circle)."""
    names = {_module_name(path) for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        targets = set()
        for _, module in imported_modules(path):
            # ``from gradtui.engine import session`` names the module ``...engine.session``;
            # ``from gradtui.engine.session import Session`` names ``...session.Session``.
            while module and module not in names:
                module = module.rpartition(".")[0]
            if module.startswith("gradtui") and module != source:
                targets.add(module)
        graph[source] = targets
    return graph


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle ``[a, b, …, a]`` in ``graph``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("layer", ["engine", "ui", "model"])
def test_no_import_circles_within_a_layer(layer: str) -> None:
    prefix = f"gradtui.{layer}"
    graph = {m: {t for t in targets if t.startswith(prefix)}
             for m, targets in import_graph().items() if m.startswith(prefix)}
    assert sum(map(len, graph.values())) >= 3, "the graph is empty: the reader found no imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])
