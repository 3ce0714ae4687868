"""How much does ``gradtui --record`` cost compared with running the script plainly?

For each workload in ``benchmarks/workloads`` this runs, in one process and interleaved
(plain, gradtui, plain, gradtui, ...) so that machine noise hits both sides alike:

    python WORKLOAD                                  (plain)
    python benchmarks/bare_hooks.py WORKLOAD         (hooks: the floor, see that file)
    python -m gradtui --record TMP.db WORKLOAD       (gradtui)

with the same interpreter (``sys.executable``). Per run it measures the wall time
(``time.perf_counter`` around start and reaping of the child), the peak RSS of the child
and the processes it starts (``os.wait4`` returns the child's own rusage, ``ru_maxrss`` in
KiB on Linux; to it is added the largest proportional set size, ``Pss``, seen of each
process the child started, such as gradtui's writer process, read from ``/proc`` every
20 ms while they run: its own memory plus its share of the pages it shares with the
child, such as the Python library's, which an RSS would count twice) and the
``LOOP_SECONDS=`` line the workload prints (its training loop alone, without ``import
torch``). It prints medians, the gradtui/plain ratios with their spread (the ratio of each
interleaved pair of runs, lowest to highest), the number of events recorded and the
recording's size, and PASS/MISS against the targets. A miss never fails the exit status.
Run it with another interpreter (``.venv-python3.12/bin/python benchmarks/...``) for that
version's row.

Usage:  .venv/bin/python benchmarks/record_overhead.py [--repeat N] [--json] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOADS = HERE / "workloads"

#: (workload, metric) -> the largest acceptable gradtui/plain ratio. The loop targets
#: are the training loop's own time (what a user waits for on a long run); Python 3.12+
#: sees lines through ``sys.monitoring``, which costs less than ``sys.settrace``.
TARGETS: dict[tuple[str, str], float] = {
    ("small_mlp", "wall"): 1.5,
    ("small_mlp", "loop"): 2.5 if sys.version_info >= (3, 12) else 3.0,
    ("plain_lstm", "loop"): 4.0,
    ("big_model", "peak_rss"): 1.27,
}

_LOOP_RE = re.compile(r"^LOOP_SECONDS=([0-9.eE+-]+)\s*$", re.MULTILINE)
_LOSS_RE = re.compile(r"^final loss (.+)$", re.MULTILINE)


@dataclass
class Run:
    wall: float
    loop: float | None
    peak_rss_kib: int
    exit_code: int
    loss: str | None


@dataclass
class Side:
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else None


def _descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (Linux ``/proc``; none elsewhere)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def _pss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _watch_descendants(pid: int, peaks: dict[int, int], done: threading.Event) -> None:
    """Keep the largest ``Pss`` seen of each process ``pid`` started, until ``done`` (every 20 ms)."""
    while not done.wait(0.02):
        for kid in _descendants(pid):
            pss = _pss_kib(kid)
            if pss is not None:
                peaks[kid] = max(pss, peaks.get(kid, 0))


def run_child(cmd: list[str]) -> tuple[Run, str, str]:
    """Run ``cmd`` to the end; its output goes to temporary files so no pipe can fill up."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        peaks: dict[int, int] = {}
        done = threading.Event()
        watcher = threading.Thread(target=_watch_descendants, args=(proc.pid, peaks, done), daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    loop = _LOOP_RE.search(stdout)
    loss = _LOSS_RE.search(stdout)
    run = Run(
        wall=wall,
        loop=float(loop.group(1)) if loop else None,
        peak_rss_kib=usage.ru_maxrss + sum(peaks.values()),
        exit_code=proc.returncode,
        loss=loss.group(1).strip() if loss else None,
    )
    return run, stdout, stderr


def timeline_facts(path: Path) -> tuple[int | None, int | None, dict[str, int]]:
    """(event count, file size in bytes, events per kind) of a recording (read with sqlite3 alone)."""
    try:
        size = path.stat().st_size
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT kind, count(*) FROM events GROUP BY kind ORDER BY count(*) DESC").fetchall()
        finally:
            db.close()
    except (OSError, sqlite3.Error):
        return None, None, {}
    kinds = {str(kind): int(n) for kind, n in rows}
    return sum(kinds.values()), size, kinds


def bench_workload(script: Path, repeat: int, log) -> dict:
    name = script.stem
    plain, hooks, traced = Side(), Side(), Side()
    with tempfile.TemporaryDirectory(prefix="gradtui-bench-") as tmp:
        record = Path(tmp) / "run.db"
        plain_cmd = [sys.executable, str(script)]
        # The floor of the hooks gradtui itself uses on this version.
        hook = "monitoring" if sys.version_info >= (3, 12) else "settrace"
        hooks_cmd = [sys.executable, str(HERE / "bare_hooks.py"), "--hook", hook, str(script)]
        traced_cmd = [sys.executable, "-m", "gradtui", "--record", str(record), str(script)]
        events = size = None
        kinds: dict[str, int] = {}
        for i in range(repeat):
            sides = ((plain, plain_cmd, "plain"), (hooks, hooks_cmd, "hooks"), (traced, traced_cmd, "gradtui"))
            for side, cmd, label in sides:
                if label == "gradtui" and record.exists():
                    record.unlink()
                run, _, stderr = run_child(cmd)
                side.runs.append(run)
                log(
                    f"  {name} #{i + 1} {label:7s} wall {run.wall:7.3f}s  loop "
                    f"{'-' if run.loop is None else f'{run.loop:7.3f}s'}  rss {run.peak_rss_kib / 1024:7.1f} MiB"
                    f"  exit {run.exit_code}"
                )
                if run.exit_code != 0:
                    tail = "\n".join(stderr.strip().splitlines()[-5:])
                    log(f"    ! exit status {run.exit_code}; stderr ends with:\n{tail}")
                if label == "gradtui":
                    events, size, kinds = timeline_facts(record)

    def ratio(attr: str, side: Side = traced) -> float | None:
        p, g = plain.median(attr), side.median(attr)
        return None if not p or g is None else g / p

    def spread(attr: str) -> tuple[float, float] | None:
        """The lowest and highest ratio of one gradtui run to the plain run just before it."""
        pairs = [getattr(g, attr) / getattr(p, attr) for p, g in zip(plain.runs, traced.runs)
                 if getattr(p, attr) and getattr(g, attr) is not None]
        return (min(pairs), max(pairs)) if pairs else None

    result: dict = {"workload": name, "repeat": repeat, "metrics": {}}
    for metric, attr in (("wall", "wall"), ("loop", "loop"), ("peak_rss", "peak_rss_kib")):
        target = TARGETS.get((name, metric))
        r = ratio(attr)
        low_high = spread(attr)
        result["metrics"][metric] = {
            "unit": "KiB" if metric == "peak_rss" else "s",
            "plain_median": plain.median(attr),
            "gradtui_median": traced.median(attr),
            "ratio": r,
            "ratio_spread": low_high,
            "hooks_median": hooks.median(attr),
            "hooks_ratio": ratio(attr, hooks),
            "target": target,
            "verdict": None if target is None else ("PASS" if r is not None and r <= target else "MISS"),
            "plain_runs": [getattr(x, attr) for x in plain.runs],
            "hooks_runs": [getattr(x, attr) for x in hooks.runs],
            "gradtui_runs": [getattr(x, attr) for x in traced.runs],
        }
    result["events"] = events
    result["events_by_kind"] = kinds
    result["timeline_bytes"] = size
    result["exit_codes"] = {
        "plain": [r.exit_code for r in plain.runs],
        "hooks": [r.exit_code for r in hooks.runs],
        "gradtui": [r.exit_code for r in traced.runs],
    }
    losses = {r.loss for r in plain.runs} | {r.loss for r in hooks.runs} | {r.loss for r in traced.runs}
    result["final_loss"] = sorted(x for x in losses if x is not None)
    result["same_result"] = len(losses) == 1 and None not in losses
    return result


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:.1f} MiB" if metric == "peak_rss" else f"{value:.3f} s"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"


def print_table(results: list[dict]) -> None:
    head = (f"{'workload':<11} {'metric':<9} {'plain (median)':>15} {'hooks':>7} "
            f"{'gradtui (median)':>17} {'ratio':>7} {'spread':>13}  target")
    print(head)
    print("-" * (len(head) + 8))
    for res in results:
        for metric in ("wall", "loop", "peak_rss"):
            m = res["metrics"][metric]
            r = "-" if m["ratio"] is None else f"{m['ratio']:.2f}x"
            h = "-" if m["hooks_ratio"] is None else f"{m['hooks_ratio']:.2f}x"
            target = "" if m["target"] is None else f"<= {m['target']:g}x {m['verdict']}"
            low_high = m["ratio_spread"]
            spread = "-" if low_high is None else f"{low_high[0]:.2f}-{low_high[1]:.2f}x"
            print(
                f"{res['workload']:<11} {metric:<9} {_fmt(metric, m['plain_median']):>15} {h:>7} "
                f"{_fmt(metric, m['gradtui_median']):>17} {r:>7} {spread:>13}  {target}"
            )
        kinds = ", ".join(f"{k} {v}" for k, v in res["events_by_kind"].items())
        print(f"{res['workload']:<11} events    {res['events'] if res['events'] is not None else '-'} ({kinds})")
        print(f"{res['workload']:<11} recording {_size(res['timeline_bytes'])}")
        same = "same in every run" if res["same_result"] else "DIFFERS between runs"
        print(f"{res['workload']:<11} loss      {' / '.join(res['final_loss']) or '-'} ({same})")
        print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each side per workload (default 5)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    ap.add_argument("--only", action="append", help="run only this workload (repeatable)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    scripts = sorted(WORKLOADS.glob("*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only]
        if not scripts:
            ap.error(f"no workload named {', '.join(args.only)}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"python {platform.python_version()} ({sys.executable}), {args.repeat} interleaved repeats")
    results = [bench_workload(s, args.repeat, log) for s in scripts]

    if args.json:
        doc = {
            "python": platform.python_version(),
            "executable": sys.executable,
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "results": results,
        }
        json.dump(doc, sys.stdout, indent=2)
        print()
    else:
        print()
        print(f"python {platform.python_version()}, {args.repeat} interleaved repeats")
        print_table(results)
        misses = [f"{r['workload']} {k}" for r in results for k, m in r["metrics"].items() if m["verdict"] == "MISS"]
        print("targets: " + ("all met" if not misses else "MISS on " + ", ".join(misses)) + " (informational; exit 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
