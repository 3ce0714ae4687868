"""Making recordings for the tests: a scenario recorded by the CLI, filed as a recording database.

A test's recording is made the way the issue defines it: ``gradtui --record X.json SCRIPT``
writes the v1 JSON the user has always had, and ``write_timeline`` files that timeline as
a recording. What a test then reads from the recording is compared with the JSON, or with
the tutorial's numbers, never with the recording's own earlier output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gradtui.model import codec
from gradtui.model.store.export import write_timeline
from tests.conftest import REPO

TIMEOUT = 120


def gradtui(*args: str | os.PathLike[str], env: dict[str, str] | None = None,
            cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``python -m gradtui ARGS`` as a user runs it (``env`` added to the environment)."""
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "gradtui", *map(str, args)], cwd=cwd, env=full,
                          capture_output=True, text=True, encoding="utf-8", timeout=TIMEOUT)


def record_json(script: Path, out: Path, *flags: str) -> Path:
    """``gradtui [FLAGS] --record OUT script``; the JSON it wrote."""
    r = gradtui(*flags, "--record", out, script)
    assert r.returncode == 0, r.stderr
    assert out.is_file(), r.stderr
    return out


def recording_of(json_path: Path, db_path: Path) -> Path:
    """The JSON timeline at ``json_path`` filed as a recording at ``db_path``."""
    write_timeline(codec.load(json_path), db_path)
    return db_path
