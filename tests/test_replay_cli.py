"""``gradtui --replay RUN`` on a recording: opened lazily, or refused with one line.

A recording is the SQLite file the debugger writes; the same run recorded by the CLI to
JSON is the reference (``tests.recording_tools``). Each refusal is a real process: exit 2,
one ``gradtui:`` line, no traceback. Without a terminal, a RUN that opens fine is refused
for want of one: the terminal is the last thing checked, so that refusal says the file
opened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gradtui import cli
from gradtui.model import codec
from gradtui.model.store import reader
from gradtui.model.store.reader import Recording
from gradtui.model.store.writer import RunInfo, StoreWriter
from gradtui.recordings import CacheConfigError
from gradtui.run_files import RunFileError, open_run
from gradtui.ui.view import View
from gradtui.ui.widgets.status import render_status
from tests.conftest import REPO, SCENARIOS
from tests.recording_tools import gradtui, record_json, recording_of
from tests.test_cli import assert_usage_error

PAGE = 4096


@pytest.fixture(scope="module")
def accumulation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the JSON --record wrote for accumulation.py, that run filed as a recording)."""
    folder = tmp_path_factory.mktemp("accumulation")
    source = record_json(SCENARIOS / "accumulation.py", folder / "run.json")
    return source, recording_of(source, folder / "run.db")


def source_events(source: Path) -> list[dict[str, object]]:
    events: list[dict[str, object]] = json.loads(source.read_text(encoding="utf-8"))["events"]
    return events


def test_a_recording_opens_without_decoding_an_event(accumulation: tuple[Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source, db = accumulation
    decoded: list[int] = []
    original = reader.event_from_json

    def counting(d, seq, tensor):  # type: ignore[no-untyped-def]
        decoded.append(seq)
        return original(d, seq, tensor)

    monkeypatch.setattr(reader, "event_from_json", counting)
    timeline = open_run(str(db))
    assert len(timeline.events) == len(source_events(source))
    assert timeline.status == "finished" and timeline.script.endswith("accumulation.py")
    assert decoded == []  # nothing is read until it is shown
    assert timeline.events[14].kind == source_events(source)[14]["kind"]
    assert decoded == [14]


def test_replay_of_a_recording_opens_it_then_wants_a_terminal(accumulation: tuple[Path, Path]) -> None:
    _, db = accumulation
    assert "terminal" in assert_usage_error(gradtui("--replay", db))


def test_replay_last_opens_the_newest_recording(tmp_path: Path, accumulation: tuple[Path, Path]) -> None:
    _, db = accumulation
    shutil.copy(db, tmp_path / "20250101-000000-accumulation-1.gradtui.db")
    assert "terminal" in assert_usage_error(gradtui("--replay", "last", env={"GRADTUI_CACHE_DIR": str(tmp_path)}))


def test_replay_last_without_recordings_says_where_they_would_be(tmp_path: Path) -> None:
    folder = tmp_path / "never-used"
    line = assert_usage_error(gradtui("--replay", "last", env={"GRADTUI_CACHE_DIR": str(folder)}))
    assert f"no recordings yet in {folder}" in line and "GRADTUI_CACHE_DIR" in line


def test_a_file_named_last_is_replayed_as_itself(tmp_path: Path, accumulation: tuple[Path, Path]) -> None:
    shutil.copy(accumulation[0], tmp_path / "last")
    r = gradtui("--replay", "last", cwd=tmp_path, env={"GRADTUI_CACHE_DIR": str(tmp_path / "none")})
    assert "terminal" in assert_usage_error(r)


def _garbage(data: bytearray, start: int, end: int) -> None:
    data[start:end] = (b"\xa5garbage" * ((end - start) // 8 + 1))[: end - start]


def _bad_recording(kind: str, db: Path, path: Path) -> Path:
    data = bytearray(db.read_bytes())
    if kind == "sqlite, not a recording":
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE notes (text TEXT)")
        other.commit()
        other.close()
        return path
    if kind == "truncated":
        del data[len(data) // 2:]
    elif kind == "header damaged":
        _garbage(data, 16, 100)
    elif kind == "middle damaged":
        _garbage(data, PAGE, len(data) - PAGE)
    elif kind == "unknown version":
        shutil.copy(db, path)
        with sqlite3.connect(path) as other:
            other.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
        other.close()
        return path
    elif kind == "binary":
        data = bytearray(b"\x00\x01\x02\xffnot a database" * 20)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("kind", "words"), [
    ("sqlite, not a recording", "an SQLite database, but not a gradtui recording"),
    ("truncated", "the recording is truncated"),
    ("header damaged", "the recording is damaged"),
    ("middle damaged", "the recording is damaged"),
    ("unknown version", "recording format version 99 is not supported"),
    ("binary", "not a timeline"),
])
def test_replay_of_a_bad_recording(tmp_path: Path, accumulation: tuple[Path, Path], kind: str, words: str) -> None:
    path = _bad_recording(kind, accumulation[1], tmp_path / "run.db")
    line = assert_usage_error(gradtui("--replay", path))
    assert words in line and str(path) in line, line


@pytest.mark.parametrize(("kind", "words"), [("missing", "no such file"), ("directory", "is a directory")])
def test_replay_of_no_file(tmp_path: Path, kind: str, words: str) -> None:
    path = tmp_path / "run.db"
    if kind == "directory":
        path.mkdir()
    assert words in assert_usage_error(gradtui("--replay", path))


def test_garbage_anywhere_in_a_recording_is_never_a_traceback(tmp_path: Path, accumulation: tuple[Path, Path]) -> None:
    """A page of garbage at each place in turn: the run opens (the page held nothing the
    open reads) or is refused in one line; its export is the same, or one line."""
    _, db = accumulation
    data = db.read_bytes()
    for start in range(0, len(data), PAGE):
        damaged = bytearray(data)
        _garbage(damaged, start + 100 if start == 0 else start, start + PAGE)
        path = tmp_path / f"page{start // PAGE + 1}.db"
        path.write_bytes(bytes(damaged))
        line = assert_usage_error(gradtui("--replay", path))
        assert "terminal" in line or "damaged" in line or "not a gradtui recording" in line, line
        r = gradtui("export", path, "-o", tmp_path / "out.json")
        if r.returncode != 0:
            assert "damaged" in assert_usage_error(r) or "not a gradtui recording" in r.stderr


def test_a_bad_cache_budget_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def refuse() -> None:
        raise CacheConfigError("GRADTUI_CACHE_BUDGET='lots' is not a size; write it like 500M, 2G or 1000000")

    monkeypatch.setattr("gradtui.run_files.latest_recording", refuse)
    monkeypatch.chdir(REPO / "tests")  # no file named 'last' here
    for argv in (["--replay", "last"], ["export", "last", "-o", "-"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err == "gradtui: GRADTUI_CACHE_BUDGET='lots' is not a size; write it like 500M, 2G or 1000000\n"


# ---------------------------------------------------------------- a run still written, a run killed


def test_a_recording_still_written_shows_what_was_committed_when_it_opened(tmp_path: Path,
                                                                           accumulation: tuple[Path, Path]) -> None:
    source, _ = accumulation
    tl = codec.load(source)
    path = tmp_path / "live.db"
    writer = StoreWriter(path, RunInfo(script=tl.script, argv=tl.argv), sources=lambda: tl.sources)
    for node in tl.graph.values():
        writer.add_node(node)
    for event in tl.events[:20]:
        writer.add(event)
    writer.flush()
    recording = Recording(path)
    opened = recording.timeline()
    assert opened.status == "running" and len(opened.events) == 20
    for event in tl.events[20:]:
        writer.add(event)
    writer.flush()
    assert len(opened.events) == 20  # a replay shows the run as it was when it opened
    r = gradtui("export", path, "-o", "-")
    assert r.returncode == 0, r.stderr
    exported = json.loads(r.stdout)
    assert exported["status"] == "running" and exported["events"] == source_events(source)
    writer.close("finished", 0, None)  # with a reader still on the file, as a replay of a live run would be
    reopened = open_run(str(path))
    assert reopened.status == "finished" and len(reopened.events) == len(tl.events)
    recording.close()


WRITE_THEN_WAIT = """\
import sys, time
from gradtui.model import codec
from gradtui.model.store.writer import RunInfo, StoreWriter
tl = codec.load(sys.argv[1])
writer = StoreWriter(sys.argv[2], RunInfo(script=tl.script, argv=tl.argv), sources=lambda: tl.sources)
for node in tl.graph.values():
    writer.add_node(node)
for event in tl.events[:int(sys.argv[3])]:
    writer.add(event)
writer.flush()
print("committed", flush=True)
time.sleep(120)
"""


def test_a_recording_whose_writer_was_killed_says_killed(tmp_path: Path, accumulation: tuple[Path, Path]) -> None:
    source, _ = accumulation
    path = tmp_path / "killed.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITE_THEN_WAIT, str(source), str(path), "30"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "committed"
        assert open_run(str(path)).status == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    opened = open_run(str(path))
    assert opened.status == "killed" and len(opened.events) == 30
    out = tmp_path / "killed.json"
    r = gradtui("export", path, "-o", out)
    assert r.returncode == 0, r.stderr
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert exported["status"] == "killed" and exported["events"] == source_events(source)[:30]
    assert codec.load(out).status == "killed"  # a v1 reader takes the new status
    events = opened.events
    status = render_status(View(events=events, cursor=len(events) - 1, finished=True, status="killed")).plain
    assert "the run was killed before it ended" in status


def test_an_unknown_status_is_still_said() -> None:
    events = codec.timeline_from_json({"format": "gradtui-timeline", "version": 1, "script": "x.py", "argv": [],
                                       "status": "finished", "events": [
                                           {"seq": 0, "kind": "line", "file": "x.py", "line": 1,
                                            "function": "<module>"}]}).events
    status = render_status(View(events=events, cursor=0, finished=True, status="vanished")).plain
    assert "the run ended: vanished" in status


def test_run_file_errors_are_sentences(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match=r"no such file$"):
        open_run(str(tmp_path / "missing.db"))
