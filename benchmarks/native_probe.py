"""What native code would save: the variables' signatures in C against gradtui's Python.

The loop targets of ``--record`` need every piece of an event at a fraction of its cost
today, and one way that is often proposed is an optional native accelerator (the way
coverage.py ships a C tracer). Before building one, this probe weighs it where it would
help most: ``tensor_signature`` and ``module_signature`` (``gradtui/engine/var_signatures.py``)
are plain bookkeeping, a few attribute reads and a tuple, called for every variable at
every line. ``native_probe/native_signatures.c`` is the same two functions in C, making
the same reads of the same torch attributes; it is built here with the system's C
compiler (``cc``, or ``$CC``) into a temporary directory, and never becomes part of gradtui.

It measures, with torch functions disabled as the engine runs:

- each torch attribute the engine reads per tensor (``_version``, ``grad_fn``, ``.grad``,
  ``shape`` ...) against reading a plain Python object's attribute: the part of the cost
  that native code cannot remove, because it is torch's own getter;
- both signatures, Python and C, on a tensor, a three-parameter module and a nested
  model (interleaved rounds, medians): the ratio C ÷ Python;
- with ``--loop N``, the recorded training loop of a workload (``LOOP_SECONDS``) with the
  Python signatures and with the C ones patched in, alternating, N runs each: what the
  signatures in C save where they run.

Usage:  .venv/bin/python benchmarks/native_probe.py [--loop N] [--workload plain_lstm]

Needs a C compiler and the interpreter's headers (``python3-dev`` on Debian); without
them it says so and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import timeit
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCE = HERE / "native_probe" / "native_signatures.c"
_LOOP_RE = re.compile(r"^LOOP_SECONDS=([0-9.eE+-]+)\s*$", re.MULTILINE)
_STEPS = {"small_mlp": 1000, "plain_lstm": 30}
#: Runs the recording with the C signatures in place of the Python ones (argv[1]: this directory,
#: argv[2]: the built module, then the arguments of gradtui).
_PATCHED = """
import sys
sys.path.insert(0, sys.argv[1])
from native_probe import load, patch
path, sys.argv = sys.argv[2], ["gradtui", *sys.argv[3:]]
patch(load(path))
from gradtui.cli import main
sys.exit(main())
"""


def build(out_dir: str) -> Path:
    """The probe's extension module, built with the system's C compiler; SystemExit(2) without one."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    include = sysconfig.get_paths()["include"]
    if compiler is None:
        raise SystemExit("native_probe.py: no C compiler found (install gcc, or set CC)")
    if not Path(include, "Python.h").is_file():
        raise SystemExit(f"native_probe.py: no Python.h in {include} (install the interpreter's headers)")
    target = Path(out_dir) / f"native_signatures{sysconfig.get_config_var('EXT_SUFFIX')}"
    done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{include}", str(SOURCE), "-o", str(target)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"native_probe.py: the C compiler failed: {done.stderr.strip().splitlines()[-1:]}")
    return target


def load(path: Path) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader("native_signatures", str(path))
    spec = importlib.util.spec_from_file_location("native_signatures", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def patch(native: ModuleType) -> None:
    """Put the C signatures where the engine calls the Python ones (before a run starts)."""
    from gradtui.engine import var_signatures
    from gradtui.model.variables import MAX_MODULE_MEMBERS

    module_signature = native.module_signature
    var_signatures.tensor_signature = native.tensor_signature
    var_signatures.module_signature = lambda m, keep: module_signature(m, keep, MAX_MODULE_MEMBERS)


def per_call(fn: Any, rounds: int = 7, number: int = 20000) -> float:
    """Median over ``rounds`` of the seconds per call of ``fn``."""
    return statistics.median(timeit.timeit(fn, number=number) / number for _ in range(rounds))


def micro(native: ModuleType) -> None:
    import torch

    from gradtui.engine import var_signatures as py
    from gradtui.model.variables import MAX_MODULE_MEMBERS

    class Cell(torch.nn.Module):  # the LSTM workload's cell: three parameters, no submodules
        def __init__(self) -> None:
            super().__init__()
            self.wx = torch.nn.Parameter(torch.randn(16, 128))
            self.wh = torch.nn.Parameter(torch.randn(32, 128))
            self.b = torch.nn.Parameter(torch.zeros(128))

    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 1))  # the small MLP's
    cell = Cell()
    activation = torch.randn(8, 32, requires_grad=True) * 2
    for p in model.parameters():
        p.grad = torch.zeros_like(p)

    class Plain:
        __slots__ = ("x",)

        def __init__(self) -> None:
            self.x = 1

    plain = Plain()
    leaf = model[0].weight
    with torch._C.DisableTorchFunction():
        base = per_call(lambda: plain.x, number=200000)
        print("torch's getters, per read (what native code still pays):")
        for label, fn in (("t._version", lambda: activation._version), ("t.grad_fn", lambda: activation.grad_fn),
                          ("t.requires_grad", lambda: activation.requires_grad), ("p.grad", lambda: leaf.grad),
                          ("t.shape", lambda: activation.shape), ("t.dtype", lambda: activation.dtype),
                          ("t.data_ptr()", lambda: activation.data_ptr())):
            cost = per_call(fn, number=200000)
            print(f"  {label:16s} {cost * 1e9:5.0f} ns   {cost / base:4.1f}x a plain object's attribute "
                  f"read the same way ({base * 1e9:.0f} ns, timing included)")
        print("signatures, per call (medians of 7 rounds):")
        cases = (
            ("tensor (an activation)", lambda: py.tensor_signature(activation, []),
             lambda: native.tensor_signature(activation, [])),
            ("module, 3 parameters", lambda: py.module_signature(cell, []),
             lambda: native.module_signature(cell, [], MAX_MODULE_MEMBERS)),
            ("small MLP, 6 parameters", lambda: py.module_signature(model, []),
             lambda: native.module_signature(model, [], MAX_MODULE_MEMBERS)),
        )
        for label, in_python, in_c in cases:
            if len(in_python()) != len(in_c()):  # the same reads give a tuple of the same length
                raise SystemExit(f"native_probe.py: the C {label} signature is not the Python one's")
            p_cost, c_cost = per_call(in_python), per_call(in_c)
            print(f"  {label:24s} Python {p_cost * 1e6:5.2f} µs   C {c_cost * 1e6:5.2f} µs   "
                  f"C ÷ Python {c_cost / p_cost:4.2f}")


def loop_runs(path: Path, workload: str, runs: int) -> None:
    script = ROOT / "benchmarks" / "workloads" / f"{workload}.py"
    steps = str(_STEPS.get(workload, 300))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    times: dict[str, list[float]] = {"Python": [], "C": []}
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "probe.db")
        for _ in range(runs):
            for side in ("Python", "C"):
                command = ([sys.executable, "-m", "gradtui", "--record", db, str(script), steps] if side == "Python"
                           else [sys.executable, "-c", _PATCHED, str(HERE), str(path), "--record", db, str(script),
                                 steps])
                out = subprocess.run(command, capture_output=True, text=True, cwd=tmp, env=env)
                found = _LOOP_RE.search(out.stdout)
                if out.returncode != 0 or found is None:
                    raise SystemExit(f"native_probe.py: the {side} run failed: {out.stderr.strip()[-300:]}")
                times[side].append(float(found.group(1)))
    py_med, c_med = statistics.median(times["Python"]), statistics.median(times["C"])
    print(f"recorded loop, {workload} ({steps} steps), {runs} alternating runs each:")
    for side, values in times.items():
        print(f"  {side:6s} median {statistics.median(values):.3f} s  [{min(values):.3f}–{max(values):.3f}]")
    print(f"  C ÷ Python {c_med / py_med:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loop", type=int, default=0, metavar="N", help="also time the recorded loop, N runs a side")
    parser.add_argument("--workload", default="plain_lstm", choices=sorted(_STEPS))
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = build(tmp)
        micro(load(path))
        if options.loop:
            loop_runs(path, options.workload, options.loop)


if __name__ == "__main__":
    main()
