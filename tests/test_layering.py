"""The layers' arrows (model <- engine <- ui) hold: checked by importing in a clean process
and by reading every module's imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradtui"


def loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["gradtui.model.codec", "gradtui.model.formatting", "gradtui.model.timeline"])
def test_model_loads_without_torch_or_textual(module):
    loaded = loaded_after(module)
    assert "torch" not in loaded and "textual" not in loaded


@pytest.mark.parametrize("module", ["gradtui.engine.session", "gradtui.headless"])
def test_engine_never_loads_textual(module):
    loaded = loaded_after(module)
    assert "torch" in loaded and "textual" not in loaded


def test_cli_loads_without_torch():
    assert "torch" not in loaded_after("gradtui.cli")  # --help and usage errors stay instant


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_across_the_arrows():
    for path in (PACKAGE / "model").glob("*.py"):
        assert not imports_of(path) & {"torch", "textual"}, path
    for path in (PACKAGE / "engine").glob("*.py"):
        assert "textual" not in imports_of(path), path
