"""``gradtui export RUN -o OUT.json``: a recording written out as the v1 JSON ``--record`` writes.

The reference is the JSON itself: each scenario is recorded by the CLI to JSON, that
timeline is filed as a recording, and the export must give back the same bytes. The
refusals are real processes: exit 2, one ``gradtui:`` line, nothing written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gradtui.model import codec
from tests.conftest import SCENARIOS
from tests.recording_tools import gradtui, record_json, recording_of
from tests.test_cli import assert_usage_error

ALL_SCENARIOS = sorted(p.name for p in SCENARIOS.glob("*.py"))


@pytest.fixture(scope="module")
def accumulation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the JSON --record wrote for accumulation.py, that run filed as a recording)."""
    folder = tmp_path_factory.mktemp("accumulation")
    source = record_json(SCENARIOS / "accumulation.py", folder / "run.json")
    return source, recording_of(source, folder / "run.db")


def test_every_scenario_is_there() -> None:
    assert len(ALL_SCENARIOS) >= 15 and "accumulation.py" in ALL_SCENARIOS


@pytest.mark.parametrize("scenario", ALL_SCENARIOS)
def test_export_gives_back_what_record_wrote_byte_for_byte(tmp_path: Path, scenario: str) -> None:
    source = record_json(SCENARIOS / scenario, tmp_path / "recorded.json")
    db = recording_of(source, tmp_path / "run.db")
    out = tmp_path / "exported.json"
    r = gradtui("export", db, "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    assert out.read_bytes() == source.read_bytes()


def test_export_to_stdout(accumulation: tuple[Path, Path]) -> None:
    source, db = accumulation
    r = gradtui("export", db, "-o", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout == source.read_text(encoding="utf-8")


def test_export_last_reads_the_newest_recording_of_the_cache_folder(tmp_path: Path,
                                                                    accumulation: tuple[Path, Path]) -> None:
    source, db = accumulation
    runs = tmp_path / "runs"
    runs.mkdir()
    older = runs / "20200101-000000-old-1.gradtui.db"
    older.write_bytes(b"not even a database")  # older: never read
    newest = runs / "20250101-000000-accumulation-2.gradtui.db"
    newest.write_bytes(db.read_bytes())
    os.utime(older, (1_000_000, 1_000_000))
    out = tmp_path / "out.json"
    r = gradtui("export", "last", "-o", out, env={"GRADTUI_CACHE_DIR": str(runs)})
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == source.read_bytes()


def test_export_last_without_recordings_says_where_they_would_be(tmp_path: Path) -> None:
    empty = tmp_path / "no-runs-yet"
    line = assert_usage_error(gradtui("export", "last", "-o", tmp_path / "out.json",
                                      env={"GRADTUI_CACHE_DIR": str(empty)}))
    assert str(empty) in line and "GRADTUI_CACHE_DIR" in line
    assert not (tmp_path / "out.json").exists()


def test_export_never_writes_over_the_recording_it_reads(tmp_path: Path, accumulation: tuple[Path, Path]) -> None:
    _, db = accumulation
    copy = tmp_path / "run.db"
    copy.write_bytes(db.read_bytes())
    (tmp_path / "link.db").symlink_to(copy)
    for spelling in (copy, tmp_path / "link.db", tmp_path / "sub" / ".." / "run.db"):
        line = assert_usage_error(gradtui("export", copy, "-o", spelling))
        assert "would overwrite the recording being exported" in line
    assert copy.read_bytes() == db.read_bytes()


@pytest.mark.parametrize(("content", "words"), [
    ("json", "a JSON timeline, not a recording"),
    (b"plain text, not a recording\n", "not a gradtui recording"),
    (None, "no such file"),
    ("dir", "directory"),
])
def test_export_refuses_what_is_not_a_recording(tmp_path: Path, accumulation: tuple[Path, Path],
                                                content: str | bytes | None, words: str) -> None:
    run = tmp_path / "input"
    if content == "json":
        run.write_bytes(accumulation[0].read_bytes())
    elif content == "dir":
        run.mkdir()
    elif isinstance(content, bytes):
        run.write_bytes(content)
    out = tmp_path / "out.json"
    line = assert_usage_error(gradtui("export", run, "-o", out))
    assert words in line, line
    assert not out.exists()


def test_export_refuses_to_replace_other_files_unless_forced(tmp_path: Path, accumulation: tuple[Path, Path]) -> None:
    source, db = accumulation
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    line = assert_usage_error(gradtui("export", db, "-o", notes))
    assert "not a gradtui recording" in line and "--force" in line
    assert notes.read_text() == "my notes\n"
    r = gradtui("export", db, "-o", notes, "--force")
    assert r.returncode == 0, r.stderr
    assert notes.read_bytes() == source.read_bytes()
    earlier = tmp_path / "earlier.json"  # an earlier timeline is replaced as --record replaces one
    earlier.write_bytes(source.read_bytes().replace(b'"status":"finished"', b'"status":"interrupted"'))
    assert gradtui("export", db, "-o", earlier).returncode == 0
    assert codec.load(earlier).status == "finished"


def test_export_usage_errors(tmp_path: Path, accumulation: tuple[Path, Path]) -> None:
    _, db = accumulation
    assert "-o" in assert_usage_error(gradtui("export", db))
    assert "RUN" in assert_usage_error(gradtui("export"))
    line = assert_usage_error(gradtui("export", db, "-o", tmp_path / "missing" / "out.json"))
    assert "does not exist" in line


def test_export_help() -> None:
    r = gradtui("export", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    for words in ("gradtui export RUN -o OUT.json", "'last'", "'-' for stdout", "--force", "version-1 JSON"):
        assert words in text, text
    assert "export" in gradtui("--help").stdout


def test_a_script_named_export_is_still_a_script(tmp_path: Path) -> None:
    (tmp_path / "export").write_text("print('the script ran')\n")
    r = gradtui("--trace", "export", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "the script ran" in r.stdout
    r = gradtui("export", cwd=tmp_path)  # a file named export: run as SCRIPT (here: no terminal)
    assert "terminal" in assert_usage_error(r)


def test_export_of_a_damaged_recording_is_one_line_and_writes_nothing(tmp_path: Path,
                                                                     accumulation: tuple[Path, Path]) -> None:
    _, db = accumulation
    damaged = tmp_path / "damaged.db"
    data = bytearray(db.read_bytes())
    page = 4096
    for start in range(page, len(data) - page, page):  # every page but the first and the last
        data[start:start + page] = b"\xa5garbage" * (page // 8)
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out.json"
    line = assert_usage_error(gradtui("export", damaged, "-o", out))
    assert "damaged" in line, line
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["damaged.db"]
