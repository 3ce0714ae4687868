"""``--record`` never writes over the user's script, its imports, or a file that is not a recording.

Each refusal is a real ``gradtui`` process: exit 2, one ``gradtui:`` line, the script never
ran (it would have created ``marker``), and every file in the folder byte for byte as it
was. The project and its script live in a temporary folder; gradtui runs from there, as a
user in their project would, so relative spellings (``train.py``, ``./train.py``) mean
what they mean to the user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradtui.model import codec
from gradtui.model.store.reader import Recording
from gradtui.record_guard import is_recording, record_problem
from tests.conftest import REPO
from tests.test_cli import assert_usage_error

TRAIN = """\
import torch
import helpers
from pkg import mod
open("marker", "w").write("ran")
loss = (torch.ones(1) * helpers.SCALE).sum()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: train.py importing helpers (which imports data) and pkg.mod."""
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "helpers.py").write_text("import data\nSCALE = data.SCALE\n")
    (tmp_path / "data.py").write_text("SCALE = 2.0\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (tmp_path / "notes.txt").write_text("my notes, not a timeline\n")
    return tmp_path


def gradtui_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "gradtui", *args], cwd=folder, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def assert_refused(project: Path, *args: str) -> str:
    """Runs gradtui; asserts a usage error that changed nothing; returns its line."""
    before = contents(project)
    line = assert_usage_error(gradtui_in(project, *args))
    assert not (project / "marker").exists(), "the script ran"
    assert contents(project) == before, "a file was changed"
    return line


def test_the_script_itself(project: Path) -> None:
    line = assert_refused(project, "--record", "train.py", "train.py")
    assert line == ("gradtui: --record train.py would overwrite the script itself; "
                    "give the output a name like train.json")


@pytest.mark.parametrize("spelling", ["./train.py", "{abs}/train.py", "pkg/../train.py", "link.py", "hard.py"])
def test_the_script_under_another_spelling(project: Path, spelling: str) -> None:
    (project / "link.py").symlink_to("train.py")
    os.link(project / "train.py", project / "hard.py")
    out = spelling.format(abs=project)
    line = assert_refused(project, "--record", out, "train.py")
    assert "the script itself" in line and out in line


@pytest.mark.parametrize(("out", "module"), [("helpers.py", "helpers"), ("data.py", "data")])
def test_a_module_the_script_imports_from_its_folder(project: Path, out: str, module: str) -> None:
    # helpers.py is imported by the script, data.py by helpers.py
    line = assert_refused(project, "--record", out, "train.py")
    assert f"would overwrite {out}, which train.py imports (as {module})" in line


@pytest.mark.parametrize("out", ["pkg/mod.py", "pkg/__init__.py"])
def test_a_module_of_a_package_the_script_imports(project: Path, out: str) -> None:
    line = assert_refused(project, "--record", out, "train.py")
    assert out in line and "imports (as pkg)" in line


def test_a_relative_import_of_the_folder(project: Path) -> None:
    (project / "main.py").write_text("from . import sibling\n")
    (project / "sibling.py").write_text("X = 1\n")
    assert "would overwrite sibling.py" in assert_refused(project, "--record", "sibling.py", "main.py")


def test_a_new_file_that_would_shadow_an_import(project: Path) -> None:
    # torch.py beside train.py would be what `import torch` loads on the next run.
    line = assert_refused(project, "--record", "torch.py", "train.py")
    assert "would shadow torch.py" in line
    assert not (project / "torch.py").exists()


def test_an_existing_file_that_is_not_a_recording(project: Path) -> None:
    line = assert_refused(project, "--record", "notes.txt", "train.py")
    assert "not a gradtui recording" in line and "--force" in line


def test_force_writes_over_a_file_that_is_not_a_recording(project: Path) -> None:
    r = gradtui_in(project, "--force", "--record", "notes.txt", "train.py")
    assert r.returncode == 0, r.stderr
    # A name that does not end in .json is a recording database.
    assert Recording(project / "notes.txt").status == "finished"


@pytest.mark.parametrize("out", ["train.py", "helpers.py", "pkg/mod.py"])
def test_force_never_writes_over_the_script_or_its_imports(project: Path, out: str) -> None:
    assert_refused(project, "--force", "--record", out, "train.py")


def test_force_needs_record(project: Path) -> None:
    assert "--force" in assert_refused(project, "--force", "--trace", "train.py")


def test_an_existing_recording_is_overwritten(project: Path) -> None:
    (project / "other.py").write_text("import torch\nx = torch.ones(1)\n")
    assert gradtui_in(project, "--record", "run.json", "other.py").returncode == 0
    assert json.loads((project / "run.json").read_text())["script"] == "other.py"
    r = gradtui_in(project, "--record", "run.json", "train.py")
    assert r.returncode == 0, r.stderr
    assert codec.load(project / "run.json").script == "train.py"


def test_an_empty_existing_file_is_written(project: Path) -> None:
    # `--record "$(mktemp)"` creates it first; an empty file holds nothing to lose.
    (project / "empty.json").write_text("")
    r = gradtui_in(project, "--record", "empty.json", "train.py")
    assert r.returncode == 0, r.stderr
    assert codec.load(project / "empty.json").status == "finished"


def test_devices_and_pipes_are_still_written_through(project: Path) -> None:
    # /dev/null itself only through the guard: a regression that replaced it would break
    # the machine (the FIFO test in test_robustness runs the whole write into a pipe).
    assert record_problem("/dev/null", str(project / "train.py"), TRAIN) is None
    fifo = project / "out.fifo"
    os.mkfifo(fifo)
    assert record_problem(str(fifo), str(project / "train.py"), TRAIN) is None


def test_the_guard_imports_no_torch() -> None:
    code = "import sys, gradtui.record_guard; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


def test_help_explains_force(project: Path) -> None:
    r = gradtui_in(project, "--help")
    assert r.returncode == 0
    assert "--force" in r.stdout and "not a gradtui recording" in " ".join(r.stdout.split())


# ---------------------------------------------------------------- recordings as databases


def _recording_database(path: Path, script: str = "other.py") -> Path:
    from gradtui.model.events import LineReached
    from gradtui.model.store.export import write_timeline
    from gradtui.model.timeline import Timeline

    first = LineReached(seq=0, file=script, line=1, function="<module>")
    write_timeline(Timeline(script=script, argv=[script], events=[first], status="finished", exit_code=0), path)
    return path


def test_a_recording_database_is_a_recording(project: Path) -> None:
    db = _recording_database(project / "run.db")
    assert is_recording(str(db))
    assert record_problem(str(db), str(project / "train.py"), TRAIN) is None


def test_a_recording_database_of_another_version_may_be_replaced(project: Path) -> None:
    import sqlite3

    db = _recording_database(project / "run.db")
    with sqlite3.connect(db) as con:
        con.execute("UPDATE meta SET value = '7' WHERE key = 'version'")
    con.close()
    assert is_recording(str(db))


@pytest.mark.parametrize("kind", ["other database", "garbled database", "json of another format"])
def test_other_files_are_not_recordings(project: Path, kind: str) -> None:
    import sqlite3

    path = project / "data.db"
    if kind == "other database":
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE meta (key TEXT, value TEXT)")
            con.execute("INSERT INTO meta VALUES ('format', 'my-own-format')")
        con.close()
    elif kind == "garbled database":
        path.write_bytes(b"SQLite format 3\x00" + b"\xa5" * 8000)
    else:
        path = project / "data.json"
        path.write_text('{"format": "something-else", "version": 1}')
    assert not is_recording(str(path))
    before = path.read_bytes()
    line = assert_refused(project, "--record", path.name, "train.py")
    assert "not a gradtui recording" in line and "--force" in line
    assert path.read_bytes() == before


def test_an_earlier_recording_database_is_replaced_without_force(project: Path) -> None:
    _recording_database(project / "run.db")
    r = gradtui_in(project, "--record", "run.db", "train.py")
    assert r.returncode == 0, r.stderr
    from gradtui.run_files import open_run

    assert open_run(str(project / "run.db")).script == "train.py"  # JSON or a recording: whichever --record wrote
