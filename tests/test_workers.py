"""Processes the script starts run free of gradtui, and the debugger never waits on them.

A ``DataLoader`` with ``num_workers`` forks its workers from the script's thread. They
used to inherit the tracer and pause at their first line for a debugger they could not
reach: ``n`` and ``s`` then hung on ``running…``, and ``--trace`` printed the workers'
events too. The expected values here come from outside gradtui: what ``python SCRIPT``
prints (the epoch totals, the losses, a forked child's exit status), the script's own
shape (2 epochs × 8 batches of 4), and the same loop read with ``num_workers=0``.

Every run that could hang on a regression is bounded: Pilot waits have timeouts, and
subprocesses run in their own session and are killed with their workers on a timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradtui.model.events import BackwardDone, LineReached, OutputWritten
from tests.apptools import live_app, press, started
from tests.conftest import REPO, SCRIPTS
from tests.test_terminal import Terminal

REAL = SCRIPTS / "real"
WORKERS = SCRIPTS / "workers"
DATASET_WORKERS = REAL / "dataset_workers.py"
CONTEXT_WORKERS = WORKERS / "context_workers.py"
OWN_FORK = WORKERS / "own_fork.py"
#: Lines of ``Squares.__getitem__``: they run in the worker processes, never in the debugged one.
GETITEM_LINES = (14, 15)
LOOP_LINE = 26  # for xb, yb in loader:
BATCHES = 2 * 8  # 2 epochs of 32 samples in batches of 4
TIMEOUT = 120
SIZE = (120, 40)


def run(argv: list[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` from the repository root; on a timeout kill it together with its workers."""
    p = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         encoding="utf-8", start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError(f"{argv} did not end within {timeout} s; stdout ends {out[-2000:]!r}") from None
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def python(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, str(script), *args])


def gradtui(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "gradtui", *map(str, args)])


def trace_events(stdout: str) -> list[tuple[int, str, str]]:
    """(line, kind, text) of every ``--trace`` line but gradtui's own notes."""
    out = []
    for text in stdout.splitlines():
        m = re.match(r"L(\d+)\s+(\S+)\s+(.*)$", text)
        assert m, f"not a trace line: {text!r}"
        if m[2] == "stderr" and m[3].startswith('"gradtui:'):
            continue
        out.append((int(m[1]), m[2], m[3]))
    return out


def visible(screen: bytes) -> str:
    """The text a terminal was sent, without its escape sequences."""
    return re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", screen).decode(errors="replace")


@pytest.fixture(scope="module")
def plain_output() -> str:
    r = python(DATASET_WORKERS)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("epoch") == 2
    return r.stdout


# ---------------------------------------------------------------- the app


def _position(app) -> tuple[int, int | None]:  # type: ignore[no-untyped-def]
    return app.cursor, app.node_cursor


async def test_n_and_s_step_through_a_loader_whose_workers_are_processes() -> None:
    app = live_app(DATASET_WORKERS)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        events = app.timeline.events
        for _ in range(25):
            before = app.cursor
            await press(pilot, "n")  # bounded: fails after 20 s instead of hanging
            assert app.cursor > before and isinstance(events[app.cursor], LineReached)
        # The first batch came back from the workers and reached the loop's body.
        assert any(isinstance(e, BackwardDone) for e in events[: app.cursor + 1])
        loops = 0
        presses = 0
        while loops < 2:  # ``s`` through the loader twice: each next batch comes from a worker
            before = _position(app)
            await press(pilot, "s")
            presses += 1
            assert _position(app) != before and app.cursor >= before[0]
            current = events[app.cursor]
            if isinstance(current, LineReached) and current.line == LOOP_LINE:
                loops += 1
            assert presses < 200, "s never came back to the loader's line"
        await press(pilot, "c")
        assert app.timeline.status == "finished"
        lines = [e.line for e in events if isinstance(e, LineReached)]
        assert not set(GETITEM_LINES) & set(lines)
        assert sum(isinstance(e, BackwardDone) for e in events) == BATCHES
        stdout = "".join(e.text for e in events if isinstance(e, OutputWritten) and e.stream == "stdout")
        assert stdout.count("epoch 0:") == 1 and stdout.count("epoch 1:") == 1
        await pilot.press("q")
    assert app.engine is not None and app.engine.join(10)


async def test_n_steps_over_a_scripts_own_fork_whose_child_runs_on_alone() -> None:
    """The child runs through the rest of the script outside gradtui while the parent waits for it."""
    app = live_app(OWN_FORK, "end")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        events = app.timeline.events
        for _ in range(100):
            before = app.cursor
            await press(pilot, "n")  # bounded: a child paused for the debugger would hang waitpid
            if app.timeline.status != "running":
                break
            assert app.cursor > before
        assert app.timeline.status == "finished"
        stdout = "".join(e.text for e in events if isinstance(e, OutputWritten) and e.stream == "stdout")
        assert stdout == "child exit 0\nparent grad [2.0, 2.0]\n"
        assert sum(isinstance(e, BackwardDone) for e in events) == 1
        await pilot.press("q")
    assert app.engine is not None and app.engine.join(10)


def test_the_app_in_a_real_terminal_steps_with_n_then_finishes() -> None:
    """The user's keys in a pseudo-terminal; a regression fails here on a timeout, killed."""
    t = Terminal(str(DATASET_WORKERS))
    try:
        assert t.read_until(b"event 1 / 1+", 60), t.output[-2000:]
        for _ in range(25):
            t.press(b"n")
            time.sleep(0.2)
        # ``c`` is refused while an ``n`` still runs: press it until the run is over.
        deadline = time.monotonic() + 60
        while True:
            t.press(b"c")
            if t.read_until(b"the script finished", 2):
                break
            assert time.monotonic() < deadline, visible(t.output)[-3000:]
        t.press(b"q")
        assert t.wait_exit(15) == 0
    finally:
        t.close()


# ---------------------------------------------------------------- headless


def test_trace_prints_only_the_debugged_process(plain_output: str, tmp_path: Path) -> None:
    r = gradtui("--trace", DATASET_WORKERS)
    assert r.returncode == 0, r.stderr
    events = trace_events(r.stdout)
    assert not [e for e in events if e[0] in GETITEM_LINES]
    printed = [text for _, kind, text in events if kind == "output"]
    assert "".join(eval(text) + "\n" for text in printed) == plain_output  # repr'd by the trace
    assert r.stdout.count("gradtui: this DataLoader loads its batches in 2 worker processes") == 1

    # The same loop with the batches read in this process: the same events but __getitem__'s.
    in_process = tmp_path / DATASET_WORKERS.name
    in_process.write_text(DATASET_WORKERS.read_text().replace("num_workers=2", "num_workers=0"))
    r0 = gradtui("--trace", in_process)
    assert r0.returncode == 0, r0.stderr

    def comparable(events: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
        # Unnamed tensors are numbered in order of appearance; __getitem__'s were numbered too.
        return [(line, kind, re.sub(r"tensor#\d+", "tensor#", text.replace("num_workers=0", "num_workers=2")))
                for line, kind, text in events if line not in GETITEM_LINES]

    assert comparable(trace_events(r0.stdout)) == comparable(events)


def test_record_finishes_with_every_step_of_both_epochs(plain_output: str, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    r = gradtui("--record", out, DATASET_WORKERS)
    assert r.returncode == 0, r.stderr
    assert r.stdout == plain_output
    data = json.loads(out.read_text())
    assert data["status"] == "finished" and data["exit_code"] == 0
    kinds = [e["kind"] for e in data["events"]]
    assert kinds.count("backward") == BATCHES and kinds.count("step") == BATCHES
    assert kinds.count("zero_grad") == BATCHES
    assert not [e for e in data["events"] if e["kind"] == "line" and e["line"] in GETITEM_LINES]


@pytest.fixture(scope="module")
def plain_losses() -> list[str]:
    plain = python(CONTEXT_WORKERS, "spawn")
    assert plain.returncode == 0, plain.stderr
    losses = [line for line in plain.stdout.splitlines() if line.startswith("loss")]
    assert len(losses) == 4 and plain.stderr.count("imported as __mp_main__") == 1
    return losses


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_workers_started_by_spawn_or_forkserver_import_the_script_afresh(method: str, plain_losses: list[str],
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    r = gradtui("--record", out, CONTEXT_WORKERS, method)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == plain_losses
    # The worker imported the script as __mp_main__ and printed so to its own stderr.
    assert r.stderr.count("imported as __mp_main__") == 1
    data = json.loads(out.read_text())
    assert data["status"] == "finished"
    assert [e["kind"] for e in data["events"]].count("step") == 4
    recorded = "".join(e["text"] for e in data["events"] if e["kind"] == "output")
    assert "imported as __main__" in recorded and "__mp_main__" not in recorded
    assert "gradtui: this DataLoader loads its batches in 1 worker process;" in recorded


def test_a_fork_pool_maps_the_scripts_function() -> None:
    script = WORKERS / "fork_pool.py"
    plain = python(script)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "[5.0, 14.0, 30.0, 55.0]\n[10.0, 28.0, 60.0, 110.0]\n"  # Σk², and 2·w
    r = gradtui("--trace", script)
    assert r.returncode == 0, r.stderr
    printed = [eval(text) for _, kind, text in trace_events(r.stdout) if kind == "output"]
    assert "".join(p + "\n" for p in printed) == plain.stdout
    assert not [e for e in trace_events(r.stdout) if e[0] in (8, 9)]  # square_sum ran in the workers


@pytest.mark.parametrize("how", ["end", "raise", "exit"])
def test_a_scripts_own_fork_child_ends_as_under_python(how: str, tmp_path: Path) -> None:
    """The child runs on through the script (or raises, or exits) outside gradtui, as python runs it."""
    script = OWN_FORK
    plain = python(script, how)
    out = tmp_path / "run.json"
    r = gradtui("--record", out, script, how)
    assert (r.returncode, r.stdout) == (plain.returncode, plain.stdout)
    assert "child exit " + {"end": "0", "raise": "1", "exit": "3"}[how] in r.stdout
    if how == "raise":
        assert "ValueError: child failed" in r.stderr and "gradtui/engine" not in r.stderr
    data = json.loads(out.read_text())
    # stdout only: from Python 3.12 the fork warns on stderr that the process has threads
    # (gradtui's), where plain python has one.
    recorded = "".join(e["text"] for e in data["events"] if e["kind"] == "output" and e["stream"] == "stdout")
    assert recorded == "".join(line + "\n" for line in plain.stdout.splitlines()
                               if not line.startswith("child ") or line.startswith("child exit"))
    assert [e["kind"] for e in data["events"]].count("backward") == 1
