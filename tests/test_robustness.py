"""Trouble gradtui must survive: huge tensors, odd tensors, hostile scripts.

Each test names what would break; expected values come from torch or from Python's
own behaviour for the same script run plainly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO, SCRIPTS


def peak_rss_mib(cmd: list[str]) -> tuple[int, float, str]:
    """Run ``cmd``; its exit status, its own peak resident memory in MiB, and its stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return proc.returncode, usage.ru_maxrss / 1024, err.read().decode(errors="replace")


def test_a_100m_element_tensor_is_summarised_never_copied(tmp_path: Path) -> None:
    script = SCRIPTS / "huge_tensor.py"
    record = tmp_path / "huge.json"
    plain_status, plain_mib, _ = peak_rss_mib([sys.executable, str(script)])
    status, mib, stderr = peak_rss_mib([sys.executable, "-m", "gradtui", "--record", str(record), str(script)])
    assert plain_status == 0 and status == 0, stderr
    # Plainly the script holds two 400 MB tensors. A copy of either would add 400 MB.
    assert mib < plain_mib + 200, (plain_mib, mib)
    doc = json.loads(record.read_text())
    outputs = {e["op"]: e["output"] for e in doc["events"] if e["kind"] == "op"}
    stats = outputs["add"]["stats"]
    assert outputs["add"]["values"] is None
    assert stats["numel"] == 100_000_000 and stats["nan"] == 1 and stats["inf"] == 1
    assert stats["min"] == stats["max"] == stats["mean"] == 1.0 and stats["std"] == 0.0
    assert stats["norm"] == pytest.approx((100_000_000 - 2) ** 0.5, rel=1e-12)


def test_a_hundred_thousand_printed_lines_are_all_kept(run_script) -> None:
    timeline = run_script(SCRIPTS / "many_lines.py")
    text = "".join(e.text for e in timeline.events if e.kind == "output")
    assert text == "".join(f"line {i}\n" for i in range(100_000))


async def test_the_app_on_a_hundred_thousand_lines_shows_the_newest(run_script) -> None:
    from gradtui.ui.app import GradtuiApp
    from tests.apptools import THEME, panel_text, press, started

    app = GradtuiApp(run_script(SCRIPTS / "many_lines.py"), None, theme=THEME)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await press(pilot, "c")
        output = panel_text(app, "#output").rstrip().splitlines()
        assert output[-1] == "line 99999" and len(output) <= 200
        await press(pilot, "N", "N", "S")
        await pilot.press("q")
