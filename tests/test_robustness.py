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


def run_plain(script: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script)], cwd=REPO, input=stdin, capture_output=True, text=True,
                          timeout=120)


def run_gradtui(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gradtui", *args], cwd=REPO, input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_recursion_error_is_the_scripts_own(run_script) -> None:
    plain = run_plain(SCRIPTS / "hostile_recursion.py")
    timeline = run_script(SCRIPTS / "hostile_recursion.py")
    assert timeline.status == "error" and timeline.error.type == "RecursionError"
    assert plain.stderr.strip().splitlines()[-1] == f"RecursionError: {timeline.error.message}"
    assert [e.op for e in timeline.events if e.kind == "op"] == ["ones", "mul"]  # recorded before it
    (error,) = [e for e in timeline.events if e.kind == "error"]
    assert "gradtui" not in error.traceback and "<string>" not in error.traceback
    assert timeline.events[-1] is error


def test_a_script_that_replaces_sys_stdout(run_script) -> None:
    plain = run_plain(SCRIPTS / "hostile_replace_stdout.py")
    timeline = run_script(SCRIPTS / "hostile_replace_stdout.py")
    printed = "".join(e.text for e in timeline.events if e.kind == "output" and e.stream == "stdout")
    assert printed == plain.stdout == "before\nafter, buffer had: 'captured by the script\\n'\n"


def test_keyboard_interrupt_raised_by_the_script(tmp_path: Path) -> None:
    record = tmp_path / "k.json"
    plain = run_plain(SCRIPTS / "hostile_kbint.py")
    r = run_gradtui("--record", str(record), str(SCRIPTS / "hostile_kbint.py"))
    assert r.returncode == 130 and plain.returncode in (130, -2)
    doc = json.loads(record.read_text())
    assert doc["status"] == "interrupted" and doc["error"]["type"] == "KeyboardInterrupt"
    assert r.stdout == plain.stdout == "about to interrupt\n"


def test_a_script_with_its_own_thread(tmp_path: Path) -> None:
    plain = run_plain(SCRIPTS / "hostile_threads.py")
    r = run_gradtui("--record", str(tmp_path / "t.json"), str(SCRIPTS / "hostile_threads.py"))
    assert r.returncode == plain.returncode == 0
    assert sorted(r.stdout.splitlines()) == sorted(plain.stdout.splitlines()) == ["from the thread", "main saw [6.0]"]


def test_odd_tensors_are_summarised_as_torch_has_them(run_script) -> None:
    import torch

    timeline = run_script(SCRIPTS / "hostile_odd_tensors.py")
    assert timeline.status == "finished", timeline.error
    outputs = {}
    for e in timeline.events:
        if e.kind == "op":
            outputs.setdefault(e.op, e.output)
    assert outputs["mul"].dtype == "int64" and outputs["mul"].values == [[0, 2, 4], [6, 8, 10]]
    assert outputs["__and__"].dtype == "bool" and outputs["__and__"].values == [True, False]
    zero_d = [e.output for e in timeline.events if e.kind == "op" and e.output.shape == ()]
    assert any(o.values == 7.0 for o in zero_d)  # torch.tensor(3.5) * 2
    complex_out = [e.output for e in timeline.events
                   if e.kind == "op" and e.op == "mul" and e.output.dtype == "complex64"]
    assert complex_out and complex_out[0].values is None
    magnitudes = torch.tensor([1 + 2j, 3 - 4j]).mul(2).abs().double()
    assert complex_out[0].stats.max == pytest.approx(magnitudes.max().item(), rel=1e-6)
    sparse = [e.output for e in timeline.events if e.kind == "op" and e.op == "mul" and e.output.shape == (2, 2)]
    assert sparse, "the sparse product is recorded as a summary"
    (non_finite,) = [e.output for e in timeline.events if e.kind == "op" and e.op == "add"]
    assert [str(v) for v in non_finite.values] == ["nan", "inf", "2.0"]


def test_cuda_on_a_machine_without_a_gpu_is_the_scripts_error(run_script) -> None:
    plain = run_plain(SCRIPTS / "hostile_cuda.py")
    timeline = run_script(SCRIPTS / "hostile_cuda.py")
    assert timeline.status == "error"
    assert plain.stderr.strip().splitlines()[-1] == f"{timeline.error.type}: {timeline.error.message}"
    assert timeline.error.line == 4 and timeline.error.file == "hostile_cuda.py"


def test_input_in_headless_mode_reads_stdin_as_python_does(tmp_path: Path) -> None:
    plain = run_plain(SCRIPTS / "hostile_asks.py", stdin="Ada\n")
    r = run_gradtui("--record", str(tmp_path / "a.json"), str(SCRIPTS / "hostile_asks.py"), stdin="Ada\n")
    assert r.returncode == plain.returncode == 0
    assert r.stdout == plain.stdout == "your name? hello Ada\n"


def test_torch_compile_runs_and_says_what_it_cannot_show(run_script) -> None:
    plain = run_plain(SCRIPTS / "hostile_compiled.py")
    timeline = run_script(SCRIPTS / "hostile_compiled.py")
    assert timeline.status == "finished", timeline.error
    stdout = "".join(e.text for e in timeline.events if e.kind == "output" and e.stream == "stdout")
    assert stdout == plain.stdout == "tensor([2., 2., 2.])\n"
    notes = [e.text for e in timeline.events if e.kind == "output" and e.text.startswith("gradtui:")]
    assert len(notes) == 1 and "torch.compile" in notes[0]
    (backward,) = [e for e in timeline.events if e.kind == "backward"]
    assert backward.grads["x"].after.values == [2.0, 2.0, 2.0]  # d/dx sum(x * x) at ones
    stderr_text = "".join(e.text for e in timeline.events if e.kind == "output" and e.stream == "stderr")
    assert "Dynamo does not know how to trace" not in stderr_text


def test_record_into_a_pipe_writes_through_it_and_leaves_it_a_pipe(tmp_path: Path) -> None:
    """--record /dev/stdout or a FIFO: replacing the target with a file would destroy it."""
    import stat
    import threading

    fifo = tmp_path / "timeline.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    r = run_gradtui("--record", str(fifo), str(SCRIPTS / "raises.py"))
    reader.join(60)
    assert r.returncode == 1
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["error"]["type"] == "RuntimeError"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timeline.fifo"]  # no temporary file left beside it
