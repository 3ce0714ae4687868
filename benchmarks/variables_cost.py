"""What does recording the script's variables at each line cost? gradtui with and without them.

Recording (``gradtui --record``) describes, at each line event, the variables the lines
before it changed (``gradtui.engine.variables``); ``--no-variables`` turns that off. This
runs each script in one process, interleaved so that machine noise hits every side alike:

    plain        the script executed directly (``exec`` as ``__main__``)
    gradtui      ``Session(record=TMP.db, bounded=True)``, as ``gradtui --record TMP.db`` runs it
    no-vars      the same with ``variables=False`` (``--no-variables``)

``import torch`` and torch's lazy imports are paid once, in a first run of each side that
is not counted, so the times are the scripts' own. A workload that prints
``LOOP_SECONDS=`` is timed by that line (its training loop alone); any other script by
its whole run. Prints, per script, the medians and the ratios gradtui/plain,
no-vars/plain and gradtui/no-vars (the cost of the variables), the last also in CPU
seconds of the whole run (less shaken by other work on a shared machine), and the line
events and how many of them changed something (and how many were full).

Usage:  .venv/bin/python benchmarks/variables_cost.py [--repeat N] [--json] [SCRIPT ...]
        (default: the workloads, the scenarios and tests/scripts/real/mlp_adamw_onecycle.py)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from gradtui.engine.script import load_script  # noqa: E402
from gradtui.engine.session import Session  # noqa: E402
from gradtui.model.events import Event, LineReached, OutputWritten  # noqa: E402

_LOOP_RE = re.compile(r"^LOOP_SECONDS=([0-9.eE+-]+)\s*$", re.MULTILINE)
DEFAULT_SCRIPTS = [*sorted((HERE / "workloads").glob("*.py")), *sorted((ROOT / "scenarios").glob("*.py")),
                   ROOT / "tests" / "scripts" / "real" / "mlp_adamw_onecycle.py"]


def run_plain(path: Path) -> tuple[float, float, str]:
    code = compile(path.read_text(), str(path), "exec")
    out = io.StringIO()
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(path)]
    sys.path.insert(0, str(path.parent))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            start, cpu = time.perf_counter(), time.process_time()
            exec(code, {"__name__": "__main__", "__file__": str(path), "__builtins__": __builtins__})
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return elapsed, cpu, out.getvalue()


def run_gradtui(path: Path, variables: bool, tmp: Path) -> tuple[float, float, str, dict[str, int]]:
    out: list[str] = []
    counts = {"lines": 0, "changed": 0, "full": 0}

    def sink(event: Event) -> None:
        if isinstance(event, OutputWritten) and event.stream == "stdout":
            out.append(event.text)
        elif isinstance(event, LineReached):
            counts["lines"] += 1
            if event.scope is not None and not event.scope.empty:
                counts["changed"] += 1
                counts["full"] += event.scope.full

    record = tmp / f"run-{time.monotonic_ns()}.db"
    start, cpu = time.perf_counter(), time.process_time()
    session = Session(load_script(str(path)), sink=sink, record=record, bounded=True, variables=variables)
    session.start()
    if not session.join(600):
        raise SystemExit(f"{path} did not finish under gradtui")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    session.close_recording()
    record.unlink()
    if session.timeline.status != "finished":
        raise SystemExit(f"{path} ended {session.timeline.status} under gradtui: {session.timeline.error}")
    return elapsed, cpu, "".join(out), counts


def timed(elapsed: float, stdout: str) -> float:
    """The loop's own seconds where the script prints them, else the whole run's."""
    loop = _LOOP_RE.search(stdout)
    return float(loop.group(1)) if loop else elapsed


def bench(path: Path, repeat: int, tmp: Path, log: Any) -> dict[str, Any]:
    sides: dict[str, list[float]] = {"plain": [], "gradtui": [], "no-vars": []}
    cpus: dict[str, list[float]] = {"plain": [], "gradtui": [], "no-vars": []}
    counts: dict[str, int] = {}
    for i in range(repeat + 1):  # the first round warms torch's lazy imports and is not counted
        elapsed, cpu, out = run_plain(path)
        times = {"plain": (timed(elapsed, out), cpu)}
        elapsed, cpu, out, counts = run_gradtui(path, True, tmp)
        times["gradtui"] = (timed(elapsed, out), cpu)
        elapsed, cpu, out, _ = run_gradtui(path, False, tmp)
        times["no-vars"] = (timed(elapsed, out), cpu)
        if i:
            for side, (seconds, cpu) in times.items():
                sides[side].append(seconds)
                cpus[side].append(cpu)
        log(f"  {path.name} #{i}{' (warm-up)' if not i else ''}: "
            + "  ".join(f"{side} {seconds:.4f}s (cpu {cpu:.4f}s)" for side, (seconds, cpu) in times.items()))
    med = {side: statistics.median(times) for side, times in sides.items()}
    cpu_med = {side: statistics.median(times) for side, times in cpus.items()}
    return {"script": str(path.relative_to(ROOT)), "median_seconds": med, "median_cpu_seconds": cpu_med,
            "runs": sides, "cpu_runs": cpus, "line_events": counts,
            "ratios": {"gradtui/plain": med["gradtui"] / med["plain"], "no-vars/plain": med["no-vars"] / med["plain"],
                       "gradtui/no-vars": med["gradtui"] / med["no-vars"],
                       "cpu gradtui/no-vars": cpu_med["gradtui"] / cpu_med["no-vars"]}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scripts", nargs="*", type=Path, help="scripts to run (default: see above)")
    ap.add_argument("--repeat", type=int, default=5, help="counted runs of each side per script (default 5)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = ap.parse_args(argv)
    scripts = [p.resolve() for p in args.scripts] or DEFAULT_SCRIPTS

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="gradtui-vars-") as tmp:
        results = [bench(p, args.repeat, Path(tmp), log) for p in scripts]
    if args.json:
        json.dump({"cpu_count": os.cpu_count(), "results": results}, sys.stdout, indent=2)
        print()
        return 0
    print(f"{'script':<44} {'plain':>9} {'gradtui':>9} {'no-vars':>9} {'g/plain':>8} {'nv/plain':>8} "
          f"{'g/nv':>6} {'cpu g/nv':>8}  lines (changed, full)")
    for r in results:
        m, q, c = r["median_seconds"], r["ratios"], r["line_events"]
        print(f"{r['script']:<44} {m['plain']:>8.4f}s {m['gradtui']:>8.4f}s {m['no-vars']:>8.4f}s "
              f"{q['gradtui/plain']:>7.2f}x {q['no-vars/plain']:>7.2f}x {q['gradtui/no-vars']:>5.2f}x "
              f"{q['cpu gradtui/no-vars']:>7.2f}x  "
              f"{c['lines']} ({c['changed']}, {c['full']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
