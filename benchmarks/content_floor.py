"""The floor under ``gradtui --record``'s loop time set by what the recording holds.

Whatever the engine computes, the script's process must at least (1) run under the hooks
(``bare_hooks.py``: the function mode and the line hook), (2) build the events the
recording keeps (every event, ``Var``, ``TensorFacts``, ``TensorSummary`` ... is a Python
object made in the script's process), and (3) pickle them for the writer's process
(``gradtui/model/store/transport.py``). This benchmark measures those three against the
plain loop, per training step, in one run:

- ``plain``, ``hooks`` (``sys.settrace`` on 3.11, ``sys.monitoring`` from 3.12, as gradtui
  itself) and ``gradtui --record``: loop times (the workload's
  ``LOOP_SECONDS=``), interleaved, N runs each; medians and their ratios to plain.
- One more ``gradtui --record`` run with the transport's ``dumps`` timed where the
  recording calls it (CPU time of the thread that pickles each batch for the writer's
  process: the script's own, or the writer's thread for a batch sent on time): the
  pickling's cost per event, times the loop's events per step.
- Of the events that run handed the writer (the engine's own objects, as it made them:
  its refreshes of the model and the optimizer, not the full values the recording
  writes), those of the middle third of the loop (no start-up, no end): per step, how
  many objects of each class they are, and the time to build them (each object made
  again from its fields by its own constructor, as the engine makes them; best of seven
  rounds, in this process). The same per part (each kind of event, and the modules and
  optimizers the lines' variables describe), each part also pickled alone (so what
  parts share is counted in each; one pickle of the whole middle third is no measure:
  pickle's memo grows with it and slows it, where the recording's batches stay small).

``floor`` is ``hooks + building + pickling`` over plain: the loop ratio no engine can go under
while it records the same events the same way, however little else it computes (each
batch is pickled holding the script process's GIL, so its time adds to the loop's;
building the values lists of small tensors, ``tolist``, is not counted). A target
below it needs a recording that holds less per step, or holds it in fewer objects.

Usage:  .venv/bin/python benchmarks/content_floor.py [--repeat N] [--workload small_mlp] [--steps N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOADS = HERE / "workloads"
_LOOP_RE = re.compile(r"^LOOP_SECONDS=([0-9.eE+-]+)\s*$", re.MULTILINE)
#: Steps per workload (the workload's own default for the others).
_STEPS = {"small_mlp": 300, "plain_lstm": 30}
#: ``gradtui --record`` with the transport's ``dumps`` timed (CPU time of the thread that
#: calls it) and its bytes and events counted, written to the file in argv[1];
#: the events it pickled, as one pickle, to argv[2] at the end.
_MEASURED = """
import atexit, json, sys, time
from gradtui.model.store import transport
out, events_out, sys.argv = sys.argv[1], sys.argv[2], ["gradtui", *sys.argv[3:]]
dumps, totals, sent = transport.dumps, {"cpu_s": 0.0, "bytes": 0, "events": 0}, []
def timed(message):
    start = time.thread_time()
    data = dumps(message)
    totals["cpu_s"] += time.thread_time() - start
    totals["bytes"] += len(data)
    if type(message) is tuple and message[0] == "batch":
        events = [item for what, item in message[1] if what == "e"]  # not the graph's nodes
        totals["events"] += len(events)
        sent.extend(events)
        with open(out, "w") as f:
            json.dump(totals, f)
    return data
def save():
    with open(events_out, "wb") as f:
        f.write(dumps(sent))
atexit.register(save)
transport.dumps = timed
from gradtui.cli import main
sys.exit(main())
"""


def _loop_seconds(cmd: list[str]) -> float:
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    found = _LOOP_RE.search(proc.stdout)
    if proc.returncode != 0 or found is None:
        sys.exit(f"content_floor: {' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    return float(found.group(1))


def _plan(objects: list[Any]) -> list[tuple[type, dict[str, Any]]]:
    """Every event object under ``objects`` (frozen dataclasses and ``TensorSummary``), children
    first, as (class, its fields by name). The values lists of small tensors are not counted."""
    from gradtui.model.tensors import TensorSummary

    plan: list[tuple[type, dict[str, Any]]] = []
    seen: set[int] = set()

    def walk(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, list | tuple | set | frozenset):
            for item in obj:
                walk(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                walk(item)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
            for value in values.values():
                walk(value)
            plan.append((type(obj), values))
        elif isinstance(obj, TensorSummary):
            values = {"shape": obj.shape, "dtype": obj.dtype, "requires_grad": obj.requires_grad,
                      "grad_fn": obj.grad_fn, "values": obj.values, "stats": obj.stats}
            walk(obj.stats)
            plan.append((TensorSummary, values))
        else:
            mapping = getattr(obj, "items", None)  # a read-only mapping (a ScopeDelta's changed)
            if callable(mapping):
                for _, item in mapping():
                    walk(item)

    for obj in objects:
        walk(obj)
    return plan


def _content(sent: Path) -> dict[str, Any]:
    """Per step of the loop's middle third: objects, bytes, building time, and the same per part."""
    sys.path.insert(0, str(ROOT))
    from gradtui.model.store import transport

    with sent.open("rb") as f:
        events = transport.read_frame(f)  # one pickle: an object the engine shared is one object again
    steps_at = [i for i in range(len(events)) if type(events[i]).__name__ == "StepTaken"]
    third = len(steps_at) // 3
    if third < 1:
        sys.exit("content_floor: the recording has too few optimizer steps")
    first, last = steps_at[third], steps_at[2 * third]
    chosen = events[first + 1:last + 1]
    steps = third  # the StepTaken events after steps_at[third], up to steps_at[2 * third]
    plan = _plan(chosen)
    kinds = Counter(cls.__name__ for cls, _ in plan)
    blob = transport.dumps(chosen)
    build, _ = _costs(plan, chosen, transport.dumps)  # one pickle of it all is no measure (the docstring)
    parts = []
    for label, objects in _parts(chosen):
        part_plan = _plan(objects)
        part_build, part_dump = _costs(part_plan, objects, transport.dumps)
        parts.append({"part": label, "objects": len(part_plan) / steps, "bytes": len(transport.dumps(objects)) / steps,
                      "build_s": part_build / steps, "pickle_s": part_dump / steps})
    return {"steps": steps, "events": len(chosen) / steps, "objects": len(plan) / steps,
            "kinds": {k: v / steps for k, v in kinds.most_common()}, "bytes": len(blob) / steps,
            "build_s": build / steps, "parts": parts}


def _costs(plan: list[tuple[type, dict[str, Any]]], objects: list[Any], dumps: Any) -> tuple[float, float]:
    """(building ``plan``, pickling ``objects``): the best of seven rounds each, in seconds."""
    build = dump = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for cls, values in plan:
            cls(**values)
        build = min(build, time.perf_counter() - start)
        start = time.perf_counter()
        dumps(objects)
        dump = min(dump, time.perf_counter() - start)
    return build, dump


def _parts(events: list[Any]) -> list[tuple[str, list[Any]]]:
    """The events by kind; and, of the line events, the modules and optimizers their deltas
    describe (after every backward, step and zero_grad), apart from the other variables."""
    by_kind: dict[str, list[Any]] = {}
    held: list[Any] = []
    for event in events:
        by_kind.setdefault(type(event).__name__, []).append(event)
        scope = getattr(event, "scope", None)
        if scope is not None:  # a refresh (``Refreshed``) is one of a module or an optimizer
            held += [var for var in scope.changed.values() if getattr(var, "role", "module") in ("module", "optimizer")]
    return [*by_kind.items(), ("(of the lines: modules, optimizers)", held)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side (default 3)")
    ap.add_argument("--workload", default="small_mlp", help="a script of benchmarks/workloads (default small_mlp)")
    ap.add_argument("--steps", type=int, help="training steps (default: 300 for small_mlp, 30 for plain_lstm)")
    args = ap.parse_args(argv)
    script = WORKLOADS / f"{args.workload}.py"
    if not script.is_file():
        ap.error(f"no workload {args.workload!r} in {WORKLOADS}")
    steps = args.steps or _STEPS.get(args.workload)
    extra = [str(steps)] if steps else []
    py = sys.executable
    # The line hook gradtui itself uses on this version: sys.monitoring from 3.12.
    hook = ["--hook", "monitoring"] if sys.version_info >= (3, 12) else []
    sides: dict[str, list[float]] = {"plain": [], "hooks": [], "gradtui": []}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "run.db"
        for i in range(args.repeat):
            sides["plain"].append(_loop_seconds([py, str(script), *extra]))
            sides["hooks"].append(_loop_seconds([py, str(HERE / "bare_hooks.py"), *hook, str(script), *extra]))
            db.unlink(missing_ok=True)
            sides["gradtui"].append(_loop_seconds([py, "-m", "gradtui", "--record", str(db), str(script), *extra]))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in sides.items()), file=sys.stderr)
        measured, sent = Path(tmp) / "pickling.json", Path(tmp) / "events.pickle"
        db.unlink(missing_ok=True)
        _loop_seconds([py, "-c", _MEASURED, str(measured), str(sent), "--record", str(db), str(script), *extra])
        live = json.loads(measured.read_text())
        content = _content(sent)
    plain = statistics.median(sides["plain"])
    n_steps = steps or content["steps"]
    per_step = plain / n_steps
    hooks = statistics.median(sides["hooks"]) / plain
    full = statistics.median(sides["gradtui"]) / plain
    build = content["build_s"] / per_step
    print(f"{args.workload}, {n_steps} steps, Python {sys.version.split()[0]}, {args.repeat} runs a side")
    print(f"plain loop            {plain:.3f} s  ({per_step * 1e3:.3f} ms a step)   1.00x")
    print(f"bare hooks                                       {hooks:.2f}x")
    print(f"gradtui --record                                 {full:.2f}x")
    print(f"per step: {content['events']:.1f} events, {content['objects']:.0f} objects, "
          f"{content['bytes'] / 1024:.1f} KiB in one pickle")
    print("  objects: " + ", ".join(f"{k} {v:.1f}" for k, v in content["kinds"].items()))
    print(f"building them         {content['build_s'] * 1e6:7.0f} us a step   {build:.2f}x of a plain step")
    live_pickle = live["cpu_s"] / live["events"] * content["events"] / per_step
    per_event = live["cpu_s"] / live["events"]
    print(f"pickling them         {per_event * 1e6:7.1f} us an event  {live_pickle:.2f}x of a plain step "
          f"(the recording's own, {live['events']} events and the graph's nodes)")
    print(f"floor = hooks + building + pickling              {hooks + build + live_pickle:.2f}x")
    print("by part (each pickled alone, so what parts share is counted in each):")
    for part in content["parts"]:
        print(f"  {part['part']:38s} {part['objects']:7.1f} objects {part['bytes'] / 1024:7.1f} KiB  "
              f"building {part['build_s'] / per_step:.2f}x  pickling {part['pickle_s'] / per_step:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
