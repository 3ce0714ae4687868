"""Which part of ``gradtui --record`` costs what: the loop with parts of the recording switched off.

A diagnostic, not a mode of gradtui: each run is ``gradtui --record`` with some of the
engine's handlers replaced by ones that do nothing (patched in this process before the
CLI runs), so the recording it leaves is incomplete by design. The parts:

- ``ops``: an operation's event (names, summary, graph nodes, module; ``OpEvents.record_op``)
- ``lines``: a line's event and the frame's variables (``LineTracer.line``)
- ``backward``: the bookkeeping around ``backward()`` (the backward itself still runs)
- ``step``: the optimizer step's event (the step still runs, with torch functions off as usual)
- ``zero_grad``: zero_grad's event

and, within an op's event, one piece at a time (the event is still made, with a stand-in
for that piece), to weigh each where it runs, beside everything else the recording does:

- ``op_names``: the names of the op's arguments and graph labels (``Namer.index``,
  ``describe_args``): every name reads ``x``
- ``op_summary``: the summary of its output (copy, deferred statistics): one fixed summary
  (a line's variables then summarise the tensor themselves, so this reads low)
- ``op_graph``: its graph nodes (``GraphRecorder.record``, the nodes sent to the writer)
- ``op_module``: the module it ran in (``ModuleLocator.locate``)

``all`` switches every one of the first five off: what is left is the hooks themselves and the
engine around them, to set beside ``bare_hooks.py``. Each configuration runs interleaved
with plain ``python`` and the full recording, N times; it prints the training loop's
median and its ratio to plain. Measured figures are in ``benchmarks/README.md``.

Usage:  .venv/bin/python benchmarks/ablate_record.py [--repeat N] [--workload small_mlp] [PARTS ...]
        (each PARTS is a comma-separated set, e.g. ``ops`` ``lines,ops`` ``all``; default: each part, then all)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
PARTS = ("ops", "lines", "backward", "step", "zero_grad")
#: Pieces of an op's event, switched off alone (not part of ``all``).
OP_PIECES = ("op_names", "op_summary", "op_graph", "op_module")
_LOOP_RE = re.compile(r"^LOOP_SECONDS=([0-9.eE+-]+)\s*$", re.MULTILINE)


class _Stand:
    """A stand-in for one collaborator of ``OpEvents``: every call answers ``answer``."""

    def __init__(self, **answers: Any) -> None:
        for name, answer in answers.items():
            setattr(self, name, lambda *args, _answer=answer, **kwargs: _answer)


def _switch_off_op_pieces(pieces: set[str]) -> None:
    """Give ``OpEvents.record_op`` stand-ins for ``pieces`` while it records (this process only)."""
    from gradtui.engine import op_events
    from gradtui.model.tensors import TensorSummary

    stands: dict[str, Any] = {}
    if "op_names" in pieces:
        stands["_namer"] = _Stand(index=_Stand(name="x"))
        op_events.describe_args = lambda args, kwargs, name: ("x",) * (len(args) + len(kwargs))  # type: ignore[assignment]
    if "op_summary" in pieces:
        stands["_capture"] = _Stand(summarize=TensorSummary((1,), "float32", False, None, values=[0.0]))
    if "op_graph" in pieces:
        stands["_graph"] = _Stand(record=None)
    if "op_module" in pieces:
        stands["_modules"] = _Stand(locate=(None, None))
    record = op_events.OpEvents.record_op

    def record_op(self: Any, *args: Any) -> None:
        real = {name: getattr(self, name) for name in stands}
        for name, stand in stands.items():
            setattr(self, name, stand)
        try:
            record(self, *args)
        finally:
            for name, value in real.items():
                setattr(self, name, value)

    op_events.OpEvents.record_op = record_op  # type: ignore[method-assign]


def _switch_off(parts: set[str]) -> None:
    """Replace the handlers of ``parts`` with ones that record nothing (this process only)."""
    if parts & set(OP_PIECES):
        _switch_off_op_pieces(parts & set(OP_PIECES))
    if "ops" in parts:
        from gradtui.engine.op_events import OpEvents

        OpEvents.record_op = lambda self, *args: None  # type: ignore[method-assign]
    if "lines" in parts:
        from gradtui.engine.line_tracer import LineTracer

        LineTracer.line = lambda self, frame: None  # type: ignore[method-assign]
    if "backward" in parts:
        from gradtui.engine.backward_hook import BackwardHook

        def run(self: Any, func: Any, args: Any, kwargs: Any, caller: Any) -> Any:
            return func(*args, **kwargs)

        BackwardHook.run = run  # type: ignore[method-assign]
    if "step" in parts:
        from gradtui.engine import optimizer_hooks

        def before(self: Any, opt: Any, args: Any = (), kwargs: Any = None) -> None:
            # As the real hook does: the optimizer's own torch calls are no ops of the script's.
            self.step_quiet = optimizer_hooks._no_torch_function()
            self.step_quiet.__enter__()

        def after(self: Any, opt: Any) -> None:
            self._leave_quiet_step()

        optimizer_hooks.OptimizerHooks.before_step = before  # type: ignore[method-assign]
        optimizer_hooks.OptimizerHooks.after_step = after  # type: ignore[method-assign]
    if "zero_grad" in parts:
        from gradtui.engine.optimizer_hooks import OptimizerHooks

        def zero_grad(self: Any, original: Any, obj: Any, args: Any, kwargs: Any) -> Any:
            return original(obj, *args, **kwargs)

        OptimizerHooks.run_zero_grad = zero_grad  # type: ignore[method-assign]


def _child(parts: str, argv: list[str]) -> int:
    """In the child: switch ``parts`` off, then run gradtui's CLI with ``argv``."""
    chosen = set(PARTS) if parts == "all" else {p for p in parts.split(",") if p}
    if chosen:
        _switch_off(chosen)
    from gradtui.cli import main

    sys.argv = ["gradtui", *argv]
    return main()


def _loop_seconds(cmd: list[str]) -> float:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    found = _LOOP_RE.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"ablate_record: {' '.join(cmd)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return float(found.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each configuration (default 5)")
    ap.add_argument("--workload", default="small_mlp", help="a script in workloads/ (default small_mlp)")
    choices = ", ".join((*PARTS, *OP_PIECES))
    ap.add_argument("parts", nargs="*", help=f"comma-separated parts to switch off ({choices}, all)")
    args = ap.parse_args(argv)
    for spec in args.parts:
        unknown = {p for p in spec.split(",") if p} - {*PARTS, *OP_PIECES, "all"}
        if unknown:
            ap.error(f"unknown part {', '.join(sorted(unknown))}: choose from {choices}, all")
    configs = ["", *(args.parts or [*PARTS, "all"])]
    script = WORKLOADS / f"{args.workload}.py"
    if not script.is_file():
        ap.error(f"no workload {args.workload!r} in {WORKLOADS}")
    times: dict[str, list[float]] = {"plain": [], **{c: [] for c in configs}}
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "run.db")
        for i in range(args.repeat):
            times["plain"].append(_loop_seconds([sys.executable, str(script)]))
            for config in configs:
                if os.path.exists(db):
                    os.remove(db)
                cmd = [sys.executable, __file__, "--child", config or "-", "--record", db, str(script)]
                times[config].append(_loop_seconds(cmd))
            print(f"ablate_record: round {i + 1} of {args.repeat} done", file=sys.stderr)
    plain = statistics.median(times["plain"])
    print(f"{script.name}, python {sys.version.split()[0]}, {args.repeat} interleaved runs, loop medians")
    print(f"{'switched off':24s} {'loop':>9s} {'÷ plain':>8s}")
    print(f"{'(plain python)':24s} {plain:8.3f}s {1.0:7.2f}x")
    for config in configs:
        median = statistics.median(times[config])
        print(f"{config or '(nothing: full recording)':24s} {median:8.3f}s {median / plain:7.2f}x")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(_child("" if sys.argv[2] == "-" else sys.argv[2], sys.argv[3:]))
    sys.exit(main())
