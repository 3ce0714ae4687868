"""A recording says how the run ended, and its ``exit_code`` is the process's exit status.

Each way a ``--record`` run can end is run as a real process; the file is then read
back both as JSON and through ``codec.load`` (a value the loader refused would make
the recording useless). The expected codes are Python's own: ``python SCRIPT`` exits 0,
1 for an exception, the low byte of ``sys.exit(n)``'s n, 130 for Ctrl-C; 3 is
gradtui's documented status for a ``--break-on`` stop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradtui.model import codec
from tests.conftest import REPO, SCENARIOS
from tests.test_cli import gradtui


def python_status(script: Path) -> int:
    """What plain ``python SCRIPT`` exits with: the reference for gradtui's status."""
    return subprocess.run([sys.executable, str(script)], capture_output=True, timeout=120).returncode


def recorded(path: Path) -> tuple[str, int]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    tl = codec.load(path)
    assert (tl.status, tl.exit_code) == (doc["status"], doc["exit_code"])
    return doc["status"], doc["exit_code"]


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        ("x = torch.ones(1) * 2", "finished"),
        ("raise ValueError('no')", "error"),
        ("sys.exit(4)", "exited"),
        ("sys.exit()", "exited"),
        ("sys.exit('a message')", "exited"),
        ("sys.exit(True)", "exited"),
        ("sys.exit(-1)", "exited"),
        ("sys.exit(256 + 5)", "exited"),
    ],
)
def test_recorded_exit_code_is_the_process_exit_status(tmp_path: Path, ending: str, status: str) -> None:
    script = tmp_path / "ends.py"
    script.write_text(f"import sys\nimport torch\n{ending}\n")
    out = tmp_path / "out.json"
    r = gradtui("--record", out, script)
    assert r.returncode == python_status(script), r.stderr
    assert recorded(out) == (status, r.returncode)


def test_break_on_stop_is_recorded_as_stopped_with_exit_code_3(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    r = gradtui("--break-on", "step", "--record", out, SCENARIOS / "sgd_step.py")
    assert r.returncode == 3, r.stderr
    assert "stopped at" in r.stderr and "a step" in r.stderr
    assert recorded(out) == ("stopped", 3)
    tl = codec.load(out)
    assert tl.events[-1].kind == "step"  # it ended at the stop, not later


# Runs gradtui's main() with one change: Ctrl-C arrives while the timeline is being
# exported from the recording to JSON (the longest part of writing a big one), once or twice.
CTRL_C_WHILE_WRITING = """\
import os, signal, sys
from gradtui.model.store import export
_write_json = export.write_json
def write_json(tl, out):
    for _ in range(int(os.environ["GRADTUI_TEST_SIGINTS"])):
        os.kill(os.getpid(), signal.SIGINT)
    return _write_json(tl, out)
export.write_json = write_json
from gradtui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_interrupted_write(out: Path, sigints: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CTRL_C_WHILE_WRITING, "--record", str(out),
                           str(SCENARIOS / "first_backward.py")], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "GRADTUI_TEST_SIGINTS": str(sigints)})


def test_ctrl_c_while_writing_finishes_the_file_it_agrees_with(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    r = run_interrupted_write(out, 1)
    assert "Traceback" not in r.stderr, r.stderr
    # The script had finished before the write began: the file says so, and so does the exit status.
    assert r.returncode == 0, r.stderr
    assert recorded(out) == ("finished", 0)


def test_a_second_ctrl_c_while_writing_abandons_the_write_and_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    assert gradtui("--record", out, SCENARIOS / "first_backward.py").returncode == 0
    before = out.read_bytes()
    r = run_interrupted_write(out, 2)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 130
    ours = [line for line in r.stderr.splitlines() if line.startswith("gradtui: ")]
    assert len(ours) == 1 and "was not written" in ours[0], r.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]  # no temporary file left
