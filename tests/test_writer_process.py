"""The recording's rows are made in a process of their own, and nothing is lost on the way there.

Events cross a pipe as pickles (``transport``): every kind must arrive equal to what was
sent, deferred statistics included. The writer's process must be another process (that is
the point: its work off the script's GIL), out of the terminal's reach (a Ctrl-C is the
script's), and must import neither torch nor the script's own modules; where no process can
start, the same writer runs on a thread. A writer that dies is one sentence, and what it
committed stays readable.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gradtui.model.events import Change, LineReached
from gradtui.model.graph import GraphNode
from gradtui.model.store import transport
from gradtui.model.store.reader import Recording
from gradtui.model.store.writer import RunInfo, StoreError, StoreWriter
from gradtui.model.tensors import TensorStats, TensorSummary
from gradtui.model.timeline import Timeline
from tests.conftest import SCENARIOS
from tests.test_event_kinds import EVENTS


def crossed(obj: object) -> object:
    return transport.read_frame(io.BytesIO(transport.dumps(obj)))


def test_every_kind_of_event_crosses_unchanged() -> None:
    back = crossed(list(EVENTS))
    assert back == EVENTS
    assert [type(e) for e in back] == [type(e) for e in EVENTS]  # type: ignore[attr-defined]


def test_a_recorded_run_crosses_unchanged(run_script) -> None:  # type: ignore[no-untyped-def]
    tl: Timeline = run_script(SCENARIOS / "accumulation.py", in_memory=True)
    events = list(tl.events)
    assert any(isinstance(e, LineReached) and e.scope is not None for e in events)
    assert crossed(events) == events
    nodes = [GraphNode(id=1, name="MulBackward0", children=(2, 3), variable="loss", module=None, module_class=None)]
    assert crossed(nodes) == nodes


def test_deferred_statistics_are_computed_before_they_cross() -> None:
    asked = []
    stats = TensorStats(numel=4096, min=-1.0, max=2.0, mean=0.5, std=0.25, norm=9.0, nan=1, inf=0)

    def source() -> TensorStats:
        asked.append(1)
        return stats

    summary = TensorSummary((64, 64), "float32", True, None, stats_source=source)
    (back,) = crossed([Change(None, summary)])  # type: ignore[misc]
    assert asked == [1]
    assert back.after.stats == stats and back.after.shape == (64, 64) and back.after.requires_grad


def test_the_same_summary_twice_in_a_batch_arrives_as_one_object() -> None:
    summary = TensorSummary((2,), "float32", values=[1.0, 2.0])
    a, b = crossed([Change(summary, summary), Change(None, summary)])  # type: ignore[misc]
    assert a.before is a.after is b.after


def _events_of(path: Path) -> list[object]:
    rec = Recording(path)
    try:
        return list(rec.timeline().events)
    finally:
        rec.close()


def _write(path: Path) -> StoreWriter:
    writer = StoreWriter(path, RunInfo(script="train.py", argv=[]))
    for e in EVENTS:
        writer.add(e)
    return writer


def test_rows_are_made_by_another_process_outside_the_terminals_session(tmp_path: Path) -> None:
    writer = _write(tmp_path / "run.db")
    proc = writer._proc
    assert proc is not None and proc.poll() is None and proc.pid != os.getpid()
    assert os.getsid(proc.pid) != os.getsid(0)  # a Ctrl-C to the terminal's group does not reach it
    modules = Path(f"/proc/{proc.pid}/maps").read_text() if Path(f"/proc/{proc.pid}/maps").exists() else ""
    assert "libtorch" not in modules
    writer.close("finished", 0, None)
    assert proc.poll() == 0
    assert _events_of(tmp_path / "run.db") == EVENTS


def test_without_a_python_to_start_the_rows_are_made_on_a_thread(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "")
    writer = _write(tmp_path / "run.db")
    assert writer._proc is None
    writer.close("finished", 0, None)
    assert _events_of(tmp_path / "run.db") == EVENTS


def test_a_process_that_cannot_start_the_writer_leaves_it_to_a_thread(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python that exits at once (a broken installation, a sandbox): the run is recorded all the same."""
    monkeypatch.setattr(sys, "executable", "/bin/false")
    writer = _write(tmp_path / "run.db")
    writer.close("finished", 0, None)
    assert writer._proc is None
    assert _events_of(tmp_path / "run.db") == EVENTS


def test_a_writer_that_dies_is_one_sentence_and_keeps_what_it_committed(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    writer = _write(path)
    writer.flush()
    assert writer._proc is not None
    writer._proc.send_signal(signal.SIGKILL)
    writer._proc.wait()
    deadline = time.monotonic() + 10
    while writer.failure is None and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.add(EVENTS[0])
    with pytest.raises(StoreError, match=r"^.*run\.db: the recording's writer stopped unexpectedly$"):
        writer.flush()
    with pytest.raises(StoreError):
        writer.close("finished", 0, None)
    assert _events_of(path) == EVENTS  # the run's status stays "running": a killed run


def test_a_scripts_own_modules_do_not_shadow_the_writers(tmp_path: Path) -> None:
    """The writer's process starts in the directory gradtui was started in; a ``sqlite3.py``
    or ``json.py`` there must not be what it imports (``-P`` here keeps gradtui's own
    process from searching it, as the ``gradtui`` command does)."""
    for name in ("sqlite3", "json", "pickle"):
        (tmp_path / f"{name}.py").write_text("raise ImportError('the script folder was searched')\n")
    script = tmp_path / "train.py"
    script.write_text("import torch\nw = torch.ones(2, requires_grad=True)\n(w * w).sum().backward()\n"
                      "print(w.grad.tolist())\n")
    out = tmp_path / "run.db"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-P", "-m", "gradtui", "--record", str(out), str(script)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "[2.0, 2.0]" in done.stdout
    rec = Recording(out)
    assert rec.status == "finished"
    rec.close()


def test_the_thread_allowed_to_sends_its_own_batches_in_order_with_the_writers_thread(tmp_path: Path) -> None:
    """The script's thread sends a full batch itself (its objects are still in its core's
    cache); the writer's thread sends the rest on time and on ``flush``. However the two
    interleave, every event arrives once, in the order it was added."""
    main = threading.get_ident()
    senders: list[str] = []
    targets: list[int] = []
    inline_sent = threading.Event()
    waits = [10]

    def prepare() -> None:
        # In a real run this is torch, without the GIL. The first few times on the writer's
        # thread, it gives the script's thread time to fill and send a batch meanwhile.
        if threading.get_ident() != main and waits[0]:
            waits[0] -= 1
            inline_sent.clear()
            inline_sent.wait(0.05)

    writer = StoreWriter(tmp_path / "run.db", RunInfo(script="train.py", argv=[]), prepare=prepare,
                         send_here=lambda: threading.get_ident() == main, send_every=7)
    write = writer._write

    def watched(data: bytes) -> None:
        message = transport.read_frame(io.BytesIO(data))
        if message[0] == "batch":
            senders.append(threading.current_thread().name)
            targets.append(message[3])
            if threading.get_ident() == main:
                inline_sent.set()
        write(data)

    writer._write = watched  # type: ignore[method-assign]
    stop = threading.Event()

    def flushing() -> None:  # the writer's thread sends too, whenever it is asked to flush
        while not stop.is_set():
            writer.flush()

    flusher = threading.Thread(target=flushing)
    flusher.start()
    events = [LineReached(seq=i, file="train.py", line=i % 9 + 1, function="<module>") for i in range(2000)]
    try:
        for e in events:
            writer.add(e)
            time.sleep(0)  # let the other threads run, as a script's torch calls do
    finally:
        stop.set()
        flusher.join()
    writer.close("finished", 0, None)
    assert _events_of(tmp_path / "run.db") == events
    assert "MainThread" in senders and "gradtui-store" in senders
    # Each batch's count of items queued before it: a flush waits for it, so they must come in order.
    assert targets == sorted(targets) and len(set(targets)) == len(targets)


def test_the_writers_thread_waits_its_time_from_the_last_batch_any_thread_sent(tmp_path: Path) -> None:
    """While the script's thread sends full batches, the writer's thread does not also send
    a part of one every ``commit_seconds`` (its statistics and pickling would take the
    GIL from the script); it sends what waits once that long passed since the last batch."""
    main = threading.get_ident()
    sent: list[tuple[str, float]] = []
    writer = StoreWriter(tmp_path / "run.db", RunInfo(script="train.py", argv=[]), commit_seconds=1.0,
                         send_here=lambda: threading.get_ident() == main, send_every=4)
    write = writer._write

    def watched(data: bytes) -> None:
        if transport.read_frame(io.BytesIO(data))[0] == "batch":
            sent.append((threading.current_thread().name, time.monotonic()))
        write(data)

    writer._write = watched  # type: ignore[method-assign]
    events = [LineReached(seq=i, file="train.py", line=1, function="<module>") for i in range(5)]
    writer.add(events[0])  # starts the writer's thread
    time.sleep(0.3)
    for e in events[1:3]:
        writer.add(e)
    inline = time.monotonic()
    writer.add(events[3])  # the fourth item: this thread sends the batch
    writer.add(events[4])
    deadline = time.monotonic() + 10
    while len(sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.close("finished", 0, None)
    assert _events_of(tmp_path / "run.db") == events
    # The send times tell, however late this thread wakes: counting from its own start, the
    # writer's thread would send the rest 0.7 s after the script's batch, not 1 s.
    assert sent[0][0] == "MainThread"
    assert sent[1][0] == "gradtui-store" and sent[1][1] - inline >= 1.0


def test_a_thread_not_allowed_to_send_only_queues(tmp_path: Path) -> None:
    """The app's thread (which must never run torch, as ``prepare`` does) leaves the sending to the writer's."""
    senders: list[str] = []
    writer = StoreWriter(tmp_path / "run.db", RunInfo(script="train.py", argv=[]),
                         send_here=lambda: False, send_every=3)
    write = writer._write

    def watched(data: bytes) -> None:
        if transport.read_frame(io.BytesIO(data))[0] == "batch":
            senders.append(threading.current_thread().name)
        write(data)

    writer._write = watched  # type: ignore[method-assign]
    for e in EVENTS:
        writer.add(e)
    writer.close("finished", 0, None)
    assert _events_of(tmp_path / "run.db") == EVENTS
    assert senders and set(senders) == {"gradtui-store"}


def test_a_batch_full_at_the_scripts_recursion_limit_is_sent_by_the_writers_thread(tmp_path: Path) -> None:
    """The script's thread at its recursion limit cannot pickle a batch there: the batch goes
    back to the queue, whole and in order, and the recording goes on."""
    writer = StoreWriter(tmp_path / "run.db", RunInfo(script="train.py", argv=[]),
                         sources=lambda: {"train.py": "x = 1\n"}, send_here=lambda: True, send_every=3)
    events = [LineReached(seq=i, file="train.py", line=1, function="<module>") for i in range(10)]

    def deep(n: int) -> None:  # as deep as Python lets it go, then the rest of the events
        try:
            deep(n + 1)
        except RecursionError:
            for e in events[3:]:
                writer.add(e)

    for e in events[:3]:
        writer.add(e)
    deep(0)
    assert writer.failure is None
    writer.close("finished", 0, None)
    rec = Recording(tmp_path / "run.db")
    try:
        tl = rec.timeline()
        assert list(tl.events) == events
        assert tl.sources == {"train.py": "x = 1\n"}
    finally:
        rec.close()
