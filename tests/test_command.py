"""The ``gradtui`` command as a user runs it: a real subprocess, its exit status and output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradtui.model import codec
from tests.conftest import REPO, SCENARIOS, SCRIPTS


def gradtui(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gradtui", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradtui: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def test_help_lists_the_options():
    result = gradtui("--help")
    assert result.returncode == 0
    for word in ("--record", "--trace", "--max-values", "SCRIPT", "exit status"):
        assert word in result.stdout


@pytest.fixture
def marker_script(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "ran"
    script = tmp_path / "marks.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    return script, marker


def test_bad_input_gets_one_line_and_status_2(tmp_path, marker_script):
    script, marker = marker_script
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\x00\x01\x02binary")
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1\ny = (\n")
    assert "no SCRIPT" in assert_one_line_usage_error(gradtui("--trace"))
    assert "no such file" in assert_one_line_usage_error(gradtui(str(tmp_path / "missing.py")))
    assert "directory" in assert_one_line_usage_error(gradtui("--trace", str(tmp_path)))
    assert "binary" in assert_one_line_usage_error(gradtui("--trace", str(binary)))
    message = assert_one_line_usage_error(gradtui("--trace", str(broken)))
    assert "broken.py:2" in message and "SyntaxError" in message
    assert "--bogus" in assert_one_line_usage_error(gradtui("--bogus", str(script)))
    assert_one_line_usage_error(gradtui("--max-values", "-1", "--trace", str(script)))
    assert "does not exist" in assert_one_line_usage_error(
        gradtui("--record", str(tmp_path / "nowhere" / "t.json"), str(script)))
    assert "directory" in assert_one_line_usage_error(gradtui("--record", str(tmp_path), str(script)))
    assert not marker.exists()


def test_trace_shows_accumulation():
    result = gradtui("--trace", str(SCENARIOS / "accumulation.py"))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    backward = [line for line in lines if " backward " in line]
    assert [line.split("theta.grad ")[1] for line in backward[:4]] == ["None → 2", "2 → 4", "4 → 6", "6 → 8"]
    zero = [line for line in lines if " zero_grad " in line]
    assert zero[0].endswith("theta.grad 8 → None")
    # The script's prints appear in place, between the events that surround them.
    printed = lines.index(next(line for line in lines if "After 3rd loss.backward()" in line))
    assert lines.index(backward[3]) < printed < lines.index(zero[0])


def test_record_writes_the_timeline_and_keeps_the_scripts_output(tmp_path):
    out = tmp_path / "run.json"
    result = gradtui("--record", str(out), str(SCENARIOS / "accumulation.py"))
    assert result.returncode == 0
    assert "After 3rd loss.backward(): theta.grad=tensor([8.])" in result.stdout
    doc = json.loads(out.read_text())
    assert (doc["format"], doc["version"], doc["status"], doc["exit_code"]) == ("gradtui-timeline", 1, "finished", 0)
    assert [e["seq"] for e in doc["events"]] == list(range(len(doc["events"])))


def test_record_exit_statuses_and_arguments(tmp_path):
    out = tmp_path / "t.json"
    result = gradtui("--record", str(out), str(SCRIPTS / "raises.py"))
    assert result.returncode == 1
    assert "RuntimeError: boom from the script" in result.stderr
    assert "raises.py" in result.stderr and "gradtui/" not in result.stderr
    tl = codec.load(out)
    assert tl.status == "error" and tl.error.type == "RuntimeError"

    assert gradtui("--record", str(out), str(SCRIPTS / "exits.py")).returncode == 3
    assert codec.load(out).status == "exited"

    result = gradtui("--record", str(out), str(SCRIPTS / "argv_echo.py"), "a1", "--trace")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].endswith("'a1', '--trace']")


def test_ctrl_c_keeps_the_timeline(tmp_path):
    script = tmp_path / "forever.py"
    script.write_text("import torch\nx = torch.ones(3)\nprint('started', flush=True)\nwhile True:\n    x = x * 1.0\n")
    out = tmp_path / "t.json"
    proc = subprocess.Popen([sys.executable, "-m", "gradtui", "--record", str(out), str(script)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while "started" not in proc.stdout.readline():
            assert time.monotonic() < deadline
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    tl = codec.load(out)
    assert tl.status == "interrupted" and tl.exit_code == 130
    assert sum(1 for e in tl.events if e.kind == "op" and e.op == "mul") > 1
