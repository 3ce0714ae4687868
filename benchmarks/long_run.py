"""Does a long ``gradtui --record OUT.db`` run keep its memory flat, its recording small and quick to open?

``record_overhead.py`` measures 300 steps; this runs the small MLP (``workloads/small_mlp.py``)
for 1,000, 5,000 and 20,000 steps, in one process and interleaved per size (plain, gradtui,
plain, gradtui, ...) with the same interpreter:

    python workloads/small_mlp.py STEPS                        (plain)
    python -m gradtui --record TMP/STEPS.db workloads/small_mlp.py STEPS   (gradtui)

Per size it reports, gradtui beside plain:

- ``wall`` and ``loop`` ratios: the whole process, and the ``LOOP_SECONDS=`` the workload prints;
- peak RSS of each process tree (sampled from /proc every 0.2 s: psutil when installed, else
  ``VmRSS`` of the process and its children), gradtui's RSS above plain's, and the RSS at
  start of the training loop and every 10% of it (flat: at most ``FLAT_MB`` higher after the 50% mark);
- KB per step of the recording (the file's size / steps);
- the time to open it in a fresh interpreter without torch (``Recording(path).timeline()``,
  then the last event and its position), beside the same for a 100-event recording;
- key latency in the replayed app (``GradtuiApp`` over the recording, Pilot at 120x40,
  theme textual-dark): s/n/e and S/N/E at the start, the middle and the end, and ``c`` / ``C``
  (to the end, to the start); each key from the press to the first frame after the app
  redrew (as ``step_latency.py``); p50 and p95.

``--endless MINUTES`` instead runs the small MLP for a billion steps under ``gradtui --record``,
samples RSS every few seconds, sends SIGTERM after MINUTES, and checks the exit status
(143) and the recording (status 'interrupted'); it prints the RSS curve (start, each
minute, end), its slope over the second half, the recording's size and the steps done.

Read the ratios and the curves, not the seconds: they move with the machine's load.
A MISS never fails the exit status.

Usage:  .venv/bin/python benchmarks/long_run.py [--steps 1000,5000,20000] [--repeat N] [--json]
        .venv/bin/python benchmarks/long_run.py --endless MINUTES
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOAD = HERE / "workloads" / "small_mlp.py"
sys.path.insert(0, str(ROOT))  # this tree's gradtui, to read the recordings

#: The issue's targets for a long run.
RSS_ABOVE_PLAIN_MB = 300.0
FLAT_MB = 20.0
KB_PER_STEP = 8.0
OPEN_SECONDS = 1.0
KEY_P95_MS = 50.0
#: The size the open and key targets apply to.
TARGET_STEPS = 20_000
#: ``README.md``'s loop ratio of the small MLP at 300 steps (record_overhead.py); ``--loop-reference``.
LOOP_REFERENCE = 8.5
#: Steps of the small MLP that make a recording of about 100 events (15 per step, and the rest).
REFERENCE_STEPS = 5
ENDLESS_STEPS = 1_000_000_000
#: How long one key may take before the run gives up on it.
SETTLE_TIMEOUT = 600.0

_LOOP_RE = re.compile(r"^LOOP_SECONDS=([0-9.eE+-]+)\s*$", re.MULTILINE)


# ---------------------------------------------------------------- memory of a process tree

def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids += [int(k) for k in fh.read().split()]
    except OSError:
        pass
    return kids


def _vm_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0  # gone, or a zombie not reaped yet


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (2**20 bytes)."""
    try:
        import psutil  # optional: not a dependency of gradtui
    except ImportError:
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            total += _vm_rss_kib(p)
            todo += _children(p)
        return total / 1024
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


@dataclass
class Run:
    wall: float
    loop: float | None
    exit_code: int
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MB)
    peak_rss_mb: float = 0.0
    stderr_tail: str = ""


def run_sampled(cmd: list[str], every: float, stop_after: float | None = None,
                on_sample: Any = None) -> Run:
    """Run ``cmd``, sampling its tree's RSS every ``every`` s; SIGTERM it after ``stop_after`` s if given."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

        def sample() -> None:
            while not done.is_set():
                t = time.perf_counter() - start
                mb = tree_rss_mb(proc.pid)
                if mb and not done.is_set():
                    samples.append((t, mb))
                    if on_sample is not None:
                        on_sample(t, mb)
                if stop_after is not None and t >= stop_after:
                    proc.send_signal(signal.SIGTERM)
                    return
                done.wait(every)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, _ = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    loop = _LOOP_RE.search(stdout)
    return Run(wall=wall, loop=float(loop.group(1)) if loop else None, exit_code=proc.returncode,
               samples=samples, peak_rss_mb=max((mb for _, mb in samples), default=0.0),
               stderr_tail="\n".join(stderr.strip().splitlines()[-5:]))


def checkpoints(samples: list[tuple[float, float]], loop: float | None, parts: int = 10) -> list[float]:
    """The RSS at the training loop's start and at every 1/parts of it (the nearest sample to each mark).

    The loop is taken to end when the process does (the workload prints two lines after
    it; gradtui then closes the recording), and to last ``LOOP_SECONDS``: the import of
    torch before it, which is most of a short run's growth, is left out.
    """
    if not samples:
        return []
    end = samples[-1][0]
    start = max(0.0, end - loop) if loop else 0.0
    marks = [start + (end - start) * k / parts for k in range(parts + 1)]
    return [min(samples, key=lambda s, m=m: abs(s[0] - m))[1] for m in marks]


def growth_after_half(curve: list[float]) -> float:
    """How far the curve rises after its midpoint: the highest later value minus the midpoint's."""
    mid = len(curve) // 2
    return max(curve[mid:]) - curve[mid] if curve else 0.0


# ---------------------------------------------------------------- reading a recording

_OPEN = """
import json, sys, time
t0 = time.perf_counter()
from gradtui.model.store.reader import Recording
t1 = time.perf_counter()
rec = Recording(sys.argv[1])
tl = rec.timeline()
events = tl.events
last = events[len(events) - 1]
where = (last.seq, last.file, last.line, events.count_of("step", last.seq))
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "events": len(events), "status": rec.status,
                  "steps": where[3], "torch": "torch" in sys.modules, "textual": "textual" in sys.modules}))
"""


def open_time(path: Path, repeat: int = 5) -> dict[str, Any]:
    """Median over fresh interpreters of opening ``path`` and reading its last event."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _OPEN, str(path)], cwd=ROOT, capture_output=True, text=True,
                             check=True)
        runs.append(json.loads(out.stdout))
    doc = dict(runs[-1])
    doc["open"] = statistics.median(r["open"] for r in runs)
    doc["import"] = statistics.median(r["import"] for r in runs)
    doc["torch"] = any(r["torch"] for r in runs)
    return doc


def recording_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def recorded_steps(path: Path) -> int | None:
    from gradtui.model.store.reader import Recording  # no torch, no textual
    try:
        rec = Recording(path)
    except Exception:  # not written yet, or mid-creation
        return None
    try:
        events = rec.timeline().events
        return events.count_of("step", len(events) - 1) if len(events) else 0
    finally:
        rec.close()


# ---------------------------------------------------------------- keys in the replayed app

def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _keys_in_app(path: Path, presses: int, budget: float) -> list[tuple[str, str, float]]:
    """(place, key, ms) per press: as step_latency.py, the press to the first frame after the redraw.

    At each place the keys stop after ``presses``, or once ``budget`` seconds went by (after
    one press of each key at least): a slow key must not make the run last for hours.
    The first sample, ("app", "first screen"), is the time from the start to the first frame;
    the next, ("jump", "first c"), the first press of ``c`` (to the end) on the fresh app.
    """
    os.environ.pop("NO_COLOR", None)
    from gradtui.model.store.reader import Recording
    from gradtui.ui.app import GradtuiApp

    app = GradtuiApp(Recording(path).timeline(), theme="textual-dark")
    redrawn = [0.0]
    frames: list[float] = []
    display, redraw = app._display, app.redraw

    def timed_display(screen, renderable):  # type: ignore[no-untyped-def]
        if renderable is not None:
            frames.append(time.perf_counter())
        return display(screen, renderable)

    def timed_redraw() -> None:
        redraw()
        redrawn[0] = time.perf_counter()

    app._display = timed_display  # type: ignore[method-assign]
    app.redraw = timed_redraw  # type: ignore[method-assign]

    async def settle(pilot, before, start: float) -> float:  # type: ignore[no-untyped-def]
        while app.drawn is before or app.running or not frames or frames[-1] < redrawn[0]:
            if time.perf_counter() > start + SETTLE_TIMEOUT:
                raise TimeoutError(f"a key did not settle in {SETTLE_TIMEOUT:.0f} s")
            await asyncio.sleep(0.0005)
        frame = frames[bisect.bisect_left(frames, redrawn[0])]  # frames come in time order
        await pilot.pause()
        return (frame - start) * 1000.0

    samples: list[tuple[str, str, float]] = []
    cycle = ("s", "S", "n", "N", "e", "E")
    opened = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        samples.append(("app", "first screen", await settle(pilot, None, opened)))
        # The first jump to the end reads the whole loss curve once: a press like any other.
        before, start = app.drawn, time.perf_counter()
        await pilot.press("c")
        samples.append(("jump", "first c", await settle(pilot, before, start)))
        for place in ("start", "middle", "end"):
            before, start = app.drawn, time.perf_counter()
            if place == "middle":  # no key lands there: put the cursor there as a jump would
                app.cursor, app.node_cursor = len(app.events) // 2, None
                app.redraw()
            else:
                await pilot.press("C" if place == "start" else "c")
            ms = await settle(pilot, before, start)
            if place != "middle":
                samples.append(("jump", "C" if place == "start" else "c", ms))
            began = time.perf_counter()
            for i in range(presses):
                if i >= len(cycle) and time.perf_counter() - began > budget:
                    break
                key = cycle[i % len(cycle)]
                before, start = app.drawn, time.perf_counter()
                await pilot.press(key)
                samples.append((place, key, await settle(pilot, before, start)))
        began = time.perf_counter()
        for _ in range(5):
            if time.perf_counter() - began > budget:
                break
            for key in ("C", "c"):
                before, start = app.drawn, time.perf_counter()
                await pilot.press(key)
                samples.append(("jump", key, await settle(pilot, before, start)))
        await pilot.press("q")
    return samples


def key_latency(path: Path, presses: int, budget: float) -> dict[str, Any]:
    """The replayed app in a fresh interpreter (so one size's garbage never slows the next)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--keys-of", str(path), "--presses", str(presses),
           "--key-budget", str(budget)]
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)  # stderr: Textual draws there
    every = [tuple(s) for s in json.loads(out.stdout.strip().splitlines()[-1])]
    first_screen, samples = every[0][2], every[1:]
    ms = [s[2] for s in samples]
    worst = max(samples, key=lambda s: s[2])
    by_place = {place: _percentile([s[2] for s in samples if s[0] == place], 95)
                for place in ("start", "middle", "end", "jump")}
    return {"n": len(ms), "p50_ms": statistics.median(ms), "p95_ms": _percentile(ms, 95), "max_ms": worst[2],
            "worst": f"{worst[1]} at {worst[0]}", "p95_by_place": by_place, "first_screen_ms": first_screen,
            "samples": samples}


# ---------------------------------------------------------------- the runs

def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def bench_size(steps: int, repeat: int, tmp: Path, presses: int, budget: float, log: Any) -> dict[str, Any]:
    record = tmp / f"small_mlp_{steps}.db"
    plain_cmd = [sys.executable, str(WORKLOAD), str(steps)]
    traced_cmd = [sys.executable, "-m", "gradtui", "--record", str(record), str(WORKLOAD), str(steps)]
    plain: list[Run] = []
    traced: list[Run] = []
    for i in range(repeat):
        for side, cmd, label in ((plain, plain_cmd, "plain"), (traced, traced_cmd, "gradtui")):
            if label == "gradtui":
                for stale in (record, Path(f"{record}-wal"), Path(f"{record}-shm")):
                    stale.unlink(missing_ok=True)
            run = run_sampled(cmd, 0.2)
            side.append(run)
            log(f"  {steps} steps #{i + 1} {label:7s} wall {run.wall:7.1f}s  loop "
                f"{'-' if run.loop is None else f'{run.loop:7.1f}s'}  peak rss {run.peak_rss_mb:6.0f} MB  "
                f"exit {run.exit_code}")
            if run.exit_code != 0:
                log(f"    ! exit status {run.exit_code}; stderr ends with:\n{run.stderr_tail}")
    size = recording_bytes(record)
    log(f"  {steps} steps: opening the recording and pressing keys in the app")
    opened = open_time(record)
    keys = key_latency(record, presses, budget)
    result: dict[str, Any] = {
        "steps": steps, "repeat": repeat,
        "wall": {"plain": _median([r.wall for r in plain]), "gradtui": _median([r.wall for r in traced])},
        "loop": {"plain": _median([r.loop for r in plain]), "gradtui": _median([r.loop for r in traced])},
        "peak_rss_mb": {"plain": _median([r.peak_rss_mb for r in plain]),
                        "gradtui": _median([r.peak_rss_mb for r in traced])},
        "rss_curve_mb": {"plain": checkpoints(plain[-1].samples, plain[-1].loop),
                         "gradtui": checkpoints(traced[-1].samples, traced[-1].loop)},
        "exit_codes": {"plain": [r.exit_code for r in plain], "gradtui": [r.exit_code for r in traced]},
        "recording_bytes": size, "events": opened["events"], "recorded_steps": opened["steps"],
        "open": opened, "keys": keys,
    }
    for metric in ("wall", "loop"):
        result[metric]["ratio"] = _ratio(result[metric]["gradtui"], result[metric]["plain"])
    rss = result["peak_rss_mb"]
    rss["above_plain"] = rss["gradtui"] - rss["plain"]
    result["rss_growth_after_half_mb"] = growth_after_half(result["rss_curve_mb"]["gradtui"])
    result["kb_per_step"] = size / 1024 / steps
    return result


def endless(minutes: float, every: float, log: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gradtui-long-") as tmp:
        record = Path(tmp) / "endless.db"
        cmd = [sys.executable, "-m", "gradtui", "--record", str(record), str(WORKLOAD), str(ENDLESS_STEPS)]
        started: list[float] = []  # when the recording first held a step
        progress: list[tuple[float, int | None]] = []

        def on_sample(t: float, mb: float) -> None:
            if not started and (recorded_steps(record) or 0) > 0:
                started.append(t)
            if not progress or t - progress[-1][0] >= 60:
                progress.append((t, recorded_steps(record)))
                log(f"  {t / 60:5.1f} min  rss {mb:6.0f} MB  steps {progress[-1][1]}")

        run = run_sampled(cmd, every, stop_after=minutes * 60, on_sample=on_sample)
        if run.exit_code != 143:
            log(f"    ! exit status {run.exit_code}; stderr ends with:\n{run.stderr_tail}")
        from gradtui.model.store.reader import Recording
        rec = Recording(record)
        events = rec.timeline().events
        status, count = rec.status, len(events)
        steps = events.count_of("step", count - 1) if count else 0
        rec.close()
        size = recording_bytes(record)
    samples = run.samples
    begin = started[0] if started else samples[0][0]
    stop = minutes * 60
    curve = [("start", min(samples, key=lambda s: abs(s[0] - begin))[1])]
    curve += [(f"{m} min", min(samples, key=lambda s, m=m: abs(s[0] - 60 * m))[1])
              for m in range(1, int(minutes) + 1)]
    curve.append(("end", samples[-1][1]))
    half = [(t / 60, mb) for t, mb in samples if t >= stop / 2]
    slope = statistics.linear_regression([t for t, _ in half], [mb for _, mb in half]).slope if len(half) > 1 else 0.0
    return {"minutes": minutes, "exit_code": run.exit_code, "status": status, "steps": steps, "events": count,
            "recording_bytes": size, "kb_per_step": size / 1024 / steps if steps else None,
            "seconds_to_exit_after_sigterm": run.wall - stop, "rss_curve_mb": curve,
            "slope_mb_per_min_second_half": slope, "peak_rss_mb": run.peak_rss_mb,
            "first_step_after_s": begin}


# ---------------------------------------------------------------- printing

def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _curve(values: list[float]) -> str:
    return "[" + " ".join(f"{v:.0f}" for v in values) + "]"


def print_sizes(results: list[dict[str, Any]], loop_reference: float, reference_open: dict[str, Any]) -> list[str]:
    head = (f"{'steps':>6} {'wall x':>7} {'loop x':>7} {'rss plain':>10} {'rss gradtui':>12} {'above':>6} "
            f"{'KB/step':>8} {'open s':>7} {'open x':>7} {'key p50':>8} {'key p95':>8}")
    print(head)
    print("-" * len(head))
    verdicts: list[str] = []
    for r in results:
        rss, keys, opened = r["peak_rss_mb"], r["keys"], r["open"]
        open_x = _ratio(opened["open"], reference_open["open"])
        print(f"{r['steps']:>6} {r['wall']['ratio']:>6.2f}x {r['loop']['ratio']:>6.2f}x {rss['plain']:>7.0f} MB "
              f"{rss['gradtui']:>9.0f} MB {rss['above_plain']:>6.0f} {r['kb_per_step']:>8.2f} "
              f"{opened['open']:>7.3f} {open_x:>6.1f}x {keys['p50_ms']:>6.1f}ms {keys['p95_ms']:>6.1f}ms")
    print()
    for r in results:
        print(f"{r['steps']:>6} steps: {r['events']} events, {r['recorded_steps']} steps recorded, "
              f"{r['recording_bytes'] / 2**20:.1f} MB recording; exits plain {r['exit_codes']['plain']} "
              f"gradtui {r['exit_codes']['gradtui']}")
        print(f"        RSS at the loop's start, every 10%, MB: plain {_curve(r['rss_curve_mb']['plain'])}")
        print(f"        {'':36}gradtui {_curve(r['rss_curve_mb']['gradtui'])}")
        by_place = ", ".join(f"{k} {v:.1f}" for k, v in r["keys"]["p95_by_place"].items())
        print(f"        key p95 by place, ms: {by_place}; slowest {r['keys']['max_ms']:.1f} ms "
              f"({r['keys']['worst']}); {r['keys']['n']} presses; first screen {r['keys']['first_screen_ms']:.0f} ms")
        print(f"        open imports {r['open']['import']:.3f} s, "
              f"torch {'LOADED' if r['open']['torch'] else 'not loaded'}")
    print(f"reference: a {reference_open['events']}-event recording opens in {reference_open['open']:.4f} s")
    print()
    for r in results:
        n, rss = r["steps"], r["peak_rss_mb"]
        flat = r["rss_growth_after_half_mb"]
        verdicts.append(f"{n:>6} steps  RSS above plain {rss['above_plain']:.0f} MB <= {RSS_ABOVE_PLAIN_MB:.0f} "
                        f"{_verdict(rss['above_plain'] <= RSS_ABOVE_PLAIN_MB)}; flat (+{flat:.0f} MB after "
                        f"half-time <= {FLAT_MB:.0f}) {_verdict(flat <= FLAT_MB)}")
        verdicts.append(f"{n:>6} steps  {r['kb_per_step']:.2f} KB/step <= {KB_PER_STEP:.0f} "
                        f"{_verdict(r['kb_per_step'] <= KB_PER_STEP)}; loop {r['loop']['ratio']:.2f}x <= "
                        f"{loop_reference:.2f}x (300 steps today) {_verdict(r['loop']['ratio'] <= loop_reference)}")
        if n == TARGET_STEPS:
            verdicts.append(f"{n:>6} steps  open {r['open']['open']:.3f} s <= {OPEN_SECONDS:.0f} s "
                            f"{_verdict(r['open']['open'] <= OPEN_SECONDS)}; key p95 {r['keys']['p95_ms']:.1f} ms "
                            f"<= {KEY_P95_MS:.0f} ms {_verdict(r['keys']['p95_ms'] <= KEY_P95_MS)}")
    return verdicts


def print_endless(r: dict[str, Any]) -> list[str]:
    curve = ", ".join(f"{label} {mb:.0f}" for label, mb in r["rss_curve_mb"])
    print(f"endless: {r['minutes']} min, {r['steps']} steps ({r['events']} events), SIGTERM -> exit "
          f"{r['exit_code']} in {r['seconds_to_exit_after_sigterm']:.1f} s, status '{r['status']}'")
    print(f"  RSS, MB: {curve} (start: the first recorded step, at {r['first_step_after_s']:.0f} s)")
    print(f"  slope over the second half: {r['slope_mb_per_min_second_half']:+.2f} MB/min; "
          f"recording {r['recording_bytes'] / 2**20:.1f} MB"
          + ("" if r["kb_per_step"] is None else f", {r['kb_per_step']:.2f} KB/step"))
    slope_ok = r["slope_mb_per_min_second_half"] * r["minutes"] / 2 <= FLAT_MB
    kb = r["kb_per_step"]
    closed = r["exit_code"] == 143 and r["status"] == "interrupted"
    return [f"endless  exit 143 and status 'interrupted' {_verdict(closed)}",
            f"endless  flat (slope x half the run <= {FLAT_MB:.0f} MB) {_verdict(slope_ok)}",
            f"endless  {'-' if kb is None else f'{kb:.2f}'} KB/step <= {KB_PER_STEP:.0f} "
            f"{_verdict(kb is not None and kb <= KB_PER_STEP)}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="1000,5000,20000", help="comma-separated sizes (default 1000,5000,20000)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side per size (default 1)")
    ap.add_argument("--presses", type=int, default=60, help="key presses at each of start, middle, end (default 60)")
    ap.add_argument("--key-budget", type=float, default=60.0,
                    help="seconds of key presses at each place at most, once each key was pressed (default 60)")
    ap.add_argument("--loop-reference", type=float, default=LOOP_REFERENCE,
                    help=f"today's loop ratio at 300 steps, from record_overhead.py (default {LOOP_REFERENCE})")
    ap.add_argument("--endless", type=float, metavar="MINUTES", help="run endlessly for MINUTES, then SIGTERM")
    ap.add_argument("--sample-every", type=float, default=2.0, help="RSS sampling in --endless, seconds (default 2)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    ap.add_argument("--show", type=Path, metavar="FILE.json", help="print the tables of a run saved with --json")
    ap.add_argument("--keys-of", type=Path, help=argparse.SUPPRESS)  # the child that drives the app
    args = ap.parse_args(argv)
    if args.keys_of is not None:
        print(json.dumps(asyncio.run(_keys_in_app(args.keys_of, args.presses, args.key_budget))))
        return 0
    if args.show is not None:
        return show(json.loads(args.show.read_text()), args.loop_reference)
    try:
        sizes = [int(s) for s in args.steps.split(",")]
    except ValueError:
        ap.error("--steps takes whole numbers separated by commas: 1000,5000,20000")
    if args.repeat < 1 or any(n < 1 for n in sizes):
        ap.error("--repeat and every --steps must be at least 1")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"python {platform.python_version()} ({sys.executable}), {os.cpu_count()} cpus, "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    doc: dict[str, Any] = {"python": platform.python_version(), "cpu_count": os.cpu_count()}
    if args.endless is not None:
        doc["endless"] = endless(args.endless, args.sample_every, log)
    else:
        with tempfile.TemporaryDirectory(prefix="gradtui-long-") as tmp:
            reference = Path(tmp) / "reference.db"
            subprocess.run([sys.executable, "-m", "gradtui", "--record", str(reference), str(WORKLOAD),
                            str(REFERENCE_STEPS)], cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, check=True)
            doc["reference_open"] = open_time(reference)
            doc["sizes"] = [bench_size(n, args.repeat, Path(tmp), args.presses, args.key_budget, log) for n in sizes]
    doc["load_after"] = os.getloadavg()
    if args.json:
        json.dump(doc, sys.stdout, indent=2, default=lambda o: asdict(o))
        print()
        return 0
    return show(doc, args.loop_reference)


def show(doc: dict[str, Any], loop_reference: float) -> int:
    print()
    verdicts = (print_endless(doc["endless"]) if "endless" in doc
                else print_sizes(doc["sizes"], loop_reference, doc["reference_open"]))
    print()
    print("\n".join(verdicts))
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in doc['load_after'])} "
          f"on {doc['cpu_count']} cpus; targets are informational, exit 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
