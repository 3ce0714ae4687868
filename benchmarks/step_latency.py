"""How long from a key press to the updated screen, stepping through a script in the app.

Runs the real app headless (Textual's ``run_test``: layout and compositing run for every
frame as in a terminal; only the final write is skipped) on a live engine and presses
keys. Each press is timed from just before the key is posted to the first frame the
compositor hands to the display after the app redrew its panels for the new event
(``App._display`` is wrapped to timestamp frames). Pilot's own waits after a press do
not count. Per workload it reports p50, p95 and max, split by:

- ``forward``: ``s``/``e`` past the newest event: the engine runs to its next pause;
- ``history``: ``S`` / ``s`` over events the app already holds (nothing re-runs).

Targets (p95): 50 ms on a tutorial scenario and on the same scenario in a script of
1,650 lines (``long_script``: the tutorial after 400 small functions, written to a
temporary folder; a key must cost the same whatever the length of the file), 100 ms on a
model of about two million parameters and on one of 152 parameter tensors
(``deep_mlp_152``: 76 small linear layers, whose parameters and gradients panels run to
hundreds of rows). Each figure is also printed as a fraction of its target, which is
what to compare between machines; the milliseconds themselves move with the machine's load.

Usage:  .venv/bin/python benchmarks/step_latency.py [--steps N] [--only WORKLOAD] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ.pop("NO_COLOR", None)


def _temp_folder() -> str:
    """A folder for a workload's script or recording, removed when the benchmark ends."""
    folder = tempfile.mkdtemp(prefix="gradtui-latency-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


from gradtui.engine.preload import preload_in_background  # noqa: E402
from gradtui.engine.script import load_script  # noqa: E402
from gradtui.engine.session import Session  # noqa: E402
from gradtui.model.store.reader import Recording  # noqa: E402
from gradtui.ui.app import GradtuiApp  # noqa: E402

#: Small functions put before the tutorial in ``long_script``: three lines and a blank each.
LONG_SCRIPT_FUNCTIONS = 400


def long_script() -> Path:
    """``scenarios/accumulation.py`` after ``LONG_SCRIPT_FUNCTIONS`` small functions, in a temporary folder."""
    helpers = "".join(f"def helper_{i}(a, b):\n    c = a + b * {i}\n    return c - {i}\n\n"
                      for i in range(LONG_SCRIPT_FUNCTIONS))
    path = Path(_temp_folder()) / "long_script.py"
    path.write_text(helpers + (ROOT / "scenarios" / "accumulation.py").read_text(encoding="utf-8"), encoding="utf-8")
    return path


#: The script of ``deep_mlp_152``.
DEEP_MLP = """\
import torch

torch.manual_seed(0)
# 76 layers in one line: the keys reach the training loop at once (map calls no code of the script's)
model = torch.nn.Sequential(*map(torch.nn.Linear, [16] * 76, [16] * 76))
x = torch.randn(32, 16)
y = torch.randn(32, 16)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(30):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
"""


def deep_mlp() -> Path:
    """A model of 152 parameter tensors (76 linear layers), in a temporary folder."""
    path = Path(_temp_folder()) / "deep_mlp.py"
    path.write_text(DEEP_MLP, encoding="utf-8")
    return path


#: name: (the script, or what writes it; its arguments; the p95 target in ms)
WORKLOADS: dict[str, tuple[Path | Callable[[], Path], list[str], float]] = {
    "accumulation": (ROOT / "scenarios" / "accumulation.py", [], 50.0),
    "long_script": (long_script, [], 50.0),
    "big_model_2.1M": (HERE / "workloads" / "big_model.py", ["3"], 100.0),
    "deep_mlp_152": (deep_mlp, [], 100.0),
}
SETTLE_TIMEOUT = 60.0


class FrameClock:
    """Timestamps of the app's redraws and of the frames sent to the display."""

    def __init__(self, app: GradtuiApp) -> None:
        self.redrawn = 0.0
        self.frames: list[float] = []
        display, redraw = app._display, app.redraw

        def timed_display(screen, renderable):  # type: ignore[no-untyped-def]
            if renderable is not None:
                self.frames.append(time.perf_counter())
            return display(screen, renderable)

        def timed_redraw() -> None:
            redraw()
            self.redrawn = time.perf_counter()

        app._display = timed_display  # type: ignore[method-assign]
        app.redraw = timed_redraw  # type: ignore[method-assign]

    def first_frame_after(self, t: float) -> float | None:
        return next((f for f in self.frames if f >= t), None)


async def _press_and_time(pilot, app: GradtuiApp, clock: FrameClock, key: str) -> float:  # type: ignore[no-untyped-def]
    before = app.drawn
    start = time.perf_counter()
    await pilot.press(key)
    deadline = start + SETTLE_TIMEOUT
    while app.drawn is before or app.running or clock.first_frame_after(clock.redrawn) is None:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"key {key!r} did not settle in {SETTLE_TIMEOUT} s")
        await asyncio.sleep(0.0005)
    frame = clock.first_frame_after(clock.redrawn)
    assert frame is not None
    await pilot.pause()
    return (frame - start) * 1000.0


async def measure(script: Path, args: list[str], steps: int) -> dict[str, list[float]]:
    # As ``gradtui SCRIPT`` does: the engine records the run, the app reads the recording.
    folder = _temp_folder()
    path = os.path.join(folder, "run.db")
    session = Session(load_script(str(script)), args, start_paused=True, ask_input=True, record=path)
    app = GradtuiApp(Recording(path).timeline(), session, theme="textual-dark")
    clock = FrameClock(app)
    # As ``gradtui SCRIPT`` does; joined before the first key, as a person reads the first
    # screen for longer than the import takes.
    preload_in_background().join()
    samples: dict[str, list[float]] = {"forward": [], "history": []}
    async with app.run_test(size=(120, 40)) as pilot:
        while app.drawn is None or app.running:
            await asyncio.sleep(0.01)
        await pilot.pause()
        for i in range(steps):
            if session.finished:
                break
            samples["forward"].append(await _press_and_time(pilot, app, clock, "s" if i % 4 else "e"))
        for _ in range(min(steps, app.cursor)):
            samples["history"].append(await _press_and_time(pilot, app, clock, "S"))
        for _ in range(min(steps, len(app.events) - 1 - app.cursor)):
            samples["history"].append(await _press_and_time(pilot, app, clock, "s"))
        await pilot.press("q")
    session.join(30)
    return samples


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="key presses per kind and workload (default 60)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--only", action="append", choices=sorted(WORKLOADS), help="run this workload alone (repeatable)")
    args = ap.parse_args()
    results = []
    for name, (script, script_args, target) in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        path = script if isinstance(script, Path) else script()
        samples = asyncio.run(measure(path, script_args, args.steps))
        for kind, values in samples.items():
            if not values:
                continue
            results.append({
                "workload": name, "kind": kind, "n": len(values), "target_ms": target,
                "p50_ms": statistics.median(values), "p95_ms": p95(values), "max_ms": max(values),
            })
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'workload':<16} {'keys':<8} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
          f"{'p95/target':>11}  target")
    for r in results:
        verdict = "PASS" if r["p95_ms"] <= r["target_ms"] else "MISS"
        print(f"{r['workload']:<16} {r['kind']:<8} {r['n']:>4} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
              f"{r['max_ms']:>8.1f} {r['p95_ms'] / r['target_ms']:>10.2f}x  p95 <= {r['target_ms']:.0f} ms {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
