"""Where the time of ``gradtui --record`` goes, per training step, by part of the engine.

Samples the recording process with py-spy (``pip install py-spy``; it reads the process from
outside, so nothing in gradtui is changed to be measured), only while a thread holds the
GIL (``--gil``: the script's thread and the recording's threads take turns on it, so their
GIL time is what the training loop waits for), and sorts every sample of the training
loop into one part, by the innermost gradtui function on its stack that names a part:

    lines         the line tracer: line events and the variables at each line
    op capture    an operation recorded: naming, summaries and copies, graph, module
    backward      the bookkeeping around backward() (the backward itself is "torch")
    step          the optimizer step's pre- and post-hook (before/after, state)
    zero_grad     the bookkeeping around zero_grad()
    trace calls   the trace function called for frames that are not the script's
    writer        sending each batch to the writer's process (which makes the rows, JSON
                  and SQLite, and holds no GIL of the script's: it is not sampled): its
                  deferred statistics and its pickling, on the script's thread for a full
                  batch and on the recording's threads otherwise, and reading the answers
    torch         the script's own work: torch and Python with no gradtui frame below

With ``--wall`` it samples the script's thread alone, whether it holds the GIL or not
(py-spy's ``--idle``): its torch work, which runs without the GIL, and its waits for the
GIL are then in the shares too, so the shares are of the loop's wall time. The GIL
profile cannot see either: it missed that the statistics the script's thread computes
for each batch (torch, without the GIL) and a statistics thread competing with it for the
GIL cost more than the pickling it did see.

Usage:  .venv/bin/python benchmarks/profile_record.py [WORKLOAD] [STEPS] [--rate HZ] [--wall] [--keep FILE]

WORKLOAD defaults to ``benchmarks/workloads/small_mlp.py`` and STEPS to 1000. Prints the
share of each part and its samples per training step; the absolute time depends on
the sampling and the machine, the shares much less.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: (part, marker): the first marker found walking a sample's stack from its innermost frame up.
PARTS: tuple[tuple[str, str], ...] = (
    ("writer", "StoreWriter._send_queued"),  # a full batch, sent by the script's own thread
    ("trace calls", "LineTracer.trace_call"),
    ("lines", "LineTracer._trace_local"),
    ("op capture", "OpEvents.record_op"),
    ("op capture", "OpRecorder.__torch_function__"),
    ("backward", "BackwardHook."),
    ("step", "OptimizerHooks.before_step"),
    ("step", "OptimizerHooks.after_step"),
    ("zero_grad", "OptimizerHooks.run_zero_grad"),
)
ORDER = ("lines", "op capture", "backward", "step", "zero_grad", "trace calls", "other gradtui", "writer", "torch")


def find_py_spy() -> str | None:
    """py-spy beside this interpreter (a venv's, used without activating it), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file():
        return str(beside)
    return shutil.which("py-spy")


def classify(frames: list[str], script_name: str, wall: bool = False) -> str | None:
    """The part one sample belongs to, or None outside the training loop (imports, set-up).

    ``wall``: the script's thread alone (the recording's threads' samples are None).
    """
    if "gradtui-store" in frames[0] or "gradtui-stats" in frames[0]:
        return None if wall else "writer"
    if "gradtui-script" not in frames[0]:
        return None
    loop = [i for i, f in enumerate(frames) if f"({script_name}" in f]
    if not loop or any("__init__ (torch/optim" in f or "_find_and_load" in f for f in frames):
        return None
    below = frames[loop[0] + 1:]
    for frame in reversed(below):
        for part, marker in PARTS:
            if marker in frame and "gradtui/" in frame:
                return part
    if any("gradtui/" in f for f in below):
        return "other gradtui"
    return "torch"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", nargs="?", default=str(HERE / "workloads" / "small_mlp.py"),
                    help="a script, or the name of one in workloads/ (default small_mlp)")
    ap.add_argument("steps", nargs="?", type=int, default=1000)
    ap.add_argument("--rate", type=int, default=250, help="samples per second (default 250)")
    ap.add_argument("--wall", action="store_true",
                    help="sample the script's thread with or without the GIL: shares of the loop's wall time")
    ap.add_argument("--keep", help="also keep py-spy's raw samples in this file")
    args = ap.parse_args(argv)
    spy = find_py_spy()
    if spy is None:
        print(f"profile_record: py-spy is not installed; run: {sys.executable} -m pip install py-spy", file=sys.stderr)
        return 2
    script = Path(args.workload)
    if not script.exists() and (HERE / "workloads" / f"{args.workload}.py").exists():
        script = HERE / "workloads" / f"{args.workload}.py"  # a workload's name: small_mlp
    if not script.is_file():
        print(f"profile_record: no script {args.workload}; give a path or a name in {HERE / 'workloads'}",
              file=sys.stderr)
        return 2
    script = script.resolve()
    with tempfile.TemporaryDirectory(prefix="gradtui-profile-") as tmp:
        raw = Path(args.keep) if args.keep else Path(tmp) / "samples.txt"
        which = "--idle" if args.wall else "--gil"
        cmd = [spy, "record", which, "--threads", "-r", str(args.rate), "-f", "raw", "-o", str(raw), "--",
               sys.executable, "-m", "gradtui", "--record", str(Path(tmp) / "run.db"), str(script), str(args.steps)]
        done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0 or not raw.exists():
            print(f"profile_record: py-spy failed:\n{done.stderr.strip()}", file=sys.stderr)
            return 2
        counts: collections.Counter[str] = collections.Counter()
        for line in raw.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():
                continue
            part = classify(stack.split(";"), script.name, args.wall)
            if part is not None:
                counts[part] += int(n)
    total = sum(counts.values())
    if not total:
        print("profile_record: no samples of the training loop", file=sys.stderr)
        return 2
    print(f"{script.name}, {args.steps} steps, python {sys.version.split()[0]}: "
          f"{total} samples {'of the script thread' if args.wall else 'holding the GIL'} during the loop "
          f"({args.rate} Hz)")
    print(f"{'part':<14} {'share':>6} {'samples/step':>13}")
    for part in ORDER:
        n = counts.get(part, 0)
        print(f"{part:<14} {100 * n / total:5.1f}% {n / args.steps:13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
