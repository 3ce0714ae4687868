"""A recording survives the way long runs end: SIGKILL, SIGTERM, SIGHUP, and is readable while written.

Each test runs the real command in a subprocess on a training loop that never ends, and
checks what the recording file holds against the loop's own arithmetic: plain gradient
descent on ``(w * w).sum()`` with ``w = [1, -2]`` and ``lr = 0.01`` multiplies ``w`` by
0.98 each step, so the loss of step k (from 1) is ``5 * 0.98 ** (2 * (k - 1))``.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from gradtui.model import codec
from gradtui.model.events import BackwardDone, OutputWritten
from gradtui.model.store.reader import Recording
from tests.test_cli import start_gradtui, wait_for_line

ENDLESS = """\
import torch

w = torch.tensor([1.0, -2.0], requires_grad=True)
opt = torch.optim.SGD([w], lr=0.01)
step = 0
while True:
    opt.zero_grad()
    loss = (w * w).sum()
    loss.backward()
    opt.step()
    step += 1
    print(f"step {step}", flush=True)
"""


def expected_loss(k: int) -> float:
    return 5 * 0.98 ** (2 * (k - 1))


def _start(tmp_path: Path, out: Path):  # type: ignore[no-untyped-def]
    script = tmp_path / "endless.py"
    script.write_text(ENDLESS)
    return start_gradtui([sys.executable, "-m", "gradtui", "--record", str(out), str(script)], tmp_path)


def _stop(p) -> None:  # type: ignore[no-untyped-def]
    if p.poll() is None:
        p.kill()
        p.wait()


def _losses(events) -> list[float]:  # type: ignore[no-untyped-def]
    return [e.loss for e in events if isinstance(e, BackwardDone)]


def test_sigkill_half_way_keeps_the_run_up_to_the_kill(tmp_path: Path) -> None:
    out = tmp_path / "run.db"
    p, lines, err_path = _start(tmp_path, out)
    try:
        wait_for_line(lines, "step 50", timeout=120)
        time.sleep(1.0)  # commits come at least every half second
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    finally:
        _stop(p)
    rec = Recording(out)
    assert rec.status == "killed", "a run whose writer vanished must not read as running"
    tl = rec.timeline()
    printed = [e.text for e in tl.events if isinstance(e, OutputWritten)]
    assert "step 50\n" in printed
    losses = _losses(tl.events)
    assert len(losses) >= 50
    for k, loss in enumerate(losses, start=1):
        assert loss == pytest.approx(expected_loss(k), rel=1e-5), f"step {k}"
    # Every event is whole: the sequence has no gap up to the last committed one.
    assert [e.seq for e in tl.events] == list(range(len(tl.events)))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
@pytest.mark.parametrize("suffix", [".db", ".json"])
def test_sigterm_and_sighup_end_the_run_as_interrupted(tmp_path: Path, signum: int, code: int, suffix: str) -> None:
    out = tmp_path / f"run{suffix}"
    p, lines, err_path = _start(tmp_path, out)
    try:
        wait_for_line(lines, "step 20", timeout=120)
        p.send_signal(signum)
        returncode = p.wait(timeout=60)
    finally:
        _stop(p)
    stderr = err_path.read_text(encoding="utf-8")
    assert returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    if suffix == ".db":
        rec = Recording(out)
        status, exit_code, events = rec.status, rec.exit_code, rec.timeline().events
        assert not Path(f"{out}-wal").exists(), "a closed recording is one file"
    else:
        tl = codec.load(out)
        status, exit_code, events = tl.status, tl.exit_code, tl.events
    assert (status, exit_code) == ("interrupted", code)
    losses = _losses(events)
    assert len(losses) >= 20
    assert losses[19] == pytest.approx(expected_loss(20), rel=1e-5)


def test_a_recording_can_be_read_while_it_is_written(tmp_path: Path) -> None:
    out = tmp_path / "run.db"
    p, lines, err_path = _start(tmp_path, out)
    try:
        wait_for_line(lines, "step 10", timeout=120)
        time.sleep(0.6)
        rec = Recording(out)
        assert rec.writing and rec.status == "running"
        first = rec.count
        tl = rec.timeline()
        assert "step 10\n" in [e.text for e in tl.events if isinstance(e, OutputWritten)]
        wait_for_line(lines, "step 40", timeout=120)
        time.sleep(0.6)
        rec.refresh()
        assert rec.count > first, "a reader sees the batches committed after it opened"
        tl = rec.timeline()
        losses = _losses(tl.events)
        assert len(losses) >= 40
        assert losses[39] == pytest.approx(expected_loss(40), rel=1e-5)
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=60)
        finally:
            _stop(p)
    rec = Recording(out)
    assert rec.status == "interrupted" and not rec.writing
