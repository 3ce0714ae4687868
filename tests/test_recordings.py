"""The automatic recordings folder: where it is, what ``last`` is, and pruning to a budget.

Every test works in its own folder through ``GRADTUI_CACHE_DIR`` (or a fake home for the
platform defaults), with files whose sizes and times the test sets itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gradtui import recordings
from gradtui.recordings import (
    DEFAULT_BUDGET,
    SUFFIX,
    CacheConfigError,
    budget_bytes,
    cache_folder,
    latest_recording,
    new_recording_path,
    prune,
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runs"
    monkeypatch.setenv("GRADTUI_CACHE_DIR", str(folder))
    monkeypatch.delenv("GRADTUI_CACHE_BUDGET", raising=False)
    return folder


def make(folder: Path, name: str, size: int, age: int, *, wal: int = 0) -> Path:
    """A recording of ``size`` bytes (and a ``-wal`` of ``wal``) last written ``age`` hours ago."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{SUFFIX}"
    path.write_bytes(b"x" * size)
    when = 1_700_000_000 - age * 3600
    os.utime(path, (when, when))
    if wal:
        Path(f"{path}-wal").write_bytes(b"w" * wal)
    return path


def test_gradtui_cache_dir_names_the_folder(cache: Path) -> None:
    assert cache_folder() == cache
    assert not cache.exists()  # named, not created, until a recording is made


def test_the_platform_default_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADTUI_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert cache_folder() == tmp_path / ".cache" / "gradtui" / "runs"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "gradtui" / "runs"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cache_folder() == tmp_path / "Library" / "Caches" / "gradtui" / "runs"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert cache_folder() == tmp_path / "Local" / "gradtui" / "Cache" / "runs"


@pytest.mark.parametrize(("text", "expected"), [
    ("", DEFAULT_BUDGET),
    ("1000000", 1_000_000),
    ("500M", 500 * 1024**2),
    ("500m", 500 * 1024**2),
    ("10G", 10 * 1024**3),
    ("2GiB", 2 * 1024**3),
    ("1.5G", int(1.5 * 1024**3)),
    ("64K", 64 * 1024),
    (" 3 G ", 3 * 1024**3),
    ("0", 0),
])
def test_budgets_as_people_write_them(monkeypatch: pytest.MonkeyPatch, text: str, expected: int) -> None:
    monkeypatch.setenv("GRADTUI_CACHE_BUDGET", text)
    assert budget_bytes() == expected


def test_no_budget_is_two_gibibytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADTUI_CACHE_BUDGET", raising=False)
    assert budget_bytes() == 2 * 1024**3


@pytest.mark.parametrize("text", ["lots", "-5G", "5 X", "G", "1e9", "5GB extra"])
def test_a_budget_that_is_not_a_size_is_one_sentence(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("GRADTUI_CACHE_BUDGET", text)
    with pytest.raises(CacheConfigError) as caught:
        budget_bytes()
    message = str(caught.value)
    assert "\n" not in message and message.count(". ") == 0
    assert f"GRADTUI_CACHE_BUDGET={text.strip()!r}" in message and "500M" in message


def test_latest_is_the_newest_by_time_not_by_name(cache: Path) -> None:
    assert latest_recording() is None
    make(cache, "b-older", 10, age=5)
    newest = make(cache, "a-newest", 10, age=1)
    make(cache, "c-oldest", 10, age=9)
    (cache / "notes.txt").write_text("not a recording")  # other files are left out
    (cache / f"folder{SUFFIX}").mkdir()
    assert latest_recording() == newest
    assert [p.name for p in recordings.recordings()] == [f"c-oldest{SUFFIX}", f"b-older{SUFFIX}",
                                                         f"a-newest{SUFFIX}"]


def test_latest_of_a_folder_that_does_not_exist(cache: Path) -> None:
    assert latest_recording() is None and recordings.recordings() == []


def test_pruning_removes_the_oldest_until_the_folder_fits(cache: Path) -> None:
    oldest = make(cache, "1", 400, age=40, wal=100)
    old = make(cache, "2", 300, age=30)
    newer = make(cache, "3", 200, age=20)
    newest = make(cache, "4", 100, age=10)
    other = cache / "notes.txt"
    other.write_text("x" * 5000)  # not a recording: neither counted nor removed
    # 1100 bytes in all (the first one's -wal counts); a budget of 350 keeps the newest two.
    assert prune(350) == [oldest, old]
    assert sorted(p.name for p in cache.iterdir()) == ["3" + SUFFIX, "4" + SUFFIX, "notes.txt"]
    assert newer.exists() and newest.exists() and other.exists()
    assert prune(350) == []  # it fits now


def test_pruning_keeps_what_it_is_told_to_keep(cache: Path) -> None:
    oldest = make(cache, "1", 400, age=40)
    middle = make(cache, "2", 300, age=30)
    newest = make(cache, "3", 200, age=20)
    assert prune(250, keep=frozenset({oldest})) == [middle, newest]
    assert oldest.exists()


def test_a_budget_of_nothing_removes_every_recording(cache: Path) -> None:
    made = [make(cache, str(i), 10, age=i) for i in range(3)]
    assert sorted(prune(0)) == sorted(made)
    assert recordings.recordings() == []


def test_a_new_recording_path_makes_room_first(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = make(cache, "old", 1000, age=50)
    keep = make(cache, "recent", 100, age=1)
    monkeypatch.setenv("GRADTUI_CACHE_BUDGET", "500")
    path = new_recording_path("/somewhere/my train script.py")
    assert path.parent == cache and path.name.endswith(SUFFIX)
    assert "my_train_script" in path.name and str(os.getpid()) in path.name
    assert not old.exists() and keep.exists()
    assert not path.exists()  # a name, for the writer to create
    path.write_bytes(b"")
    again = new_recording_path("/somewhere/my train script.py")
    assert again != path and again.parent == cache


def test_a_new_recording_path_with_a_bad_budget_says_so(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADTUI_CACHE_BUDGET", "plenty")
    with pytest.raises(CacheConfigError, match="GRADTUI_CACHE_BUDGET='plenty' is not a size"):
        new_recording_path("train.py")


def test_the_cli_says_a_bad_budget_in_one_line_before_anything_runs(tmp_path: Path) -> None:
    from tests.recording_tools import gradtui
    from tests.test_cli import assert_usage_error

    marker = tmp_path / "marker"
    script = tmp_path / "writes_marker.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    env = {"GRADTUI_CACHE_DIR": str(tmp_path / "runs"), "GRADTUI_CACHE_BUDGET": "lots"}
    for args in (["--record", tmp_path / "out.json", script], [script]):  # recorded, and the debugger
        line = assert_usage_error(gradtui(*args, env=env))
        assert line == "gradtui: GRADTUI_CACHE_BUDGET='lots' is not a size; write it like 500M, 2G or 1000000"
    assert not marker.exists() and not (tmp_path / "out.json").exists() and not (tmp_path / "runs").exists()
