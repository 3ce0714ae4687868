"""Run a workload under the bare hooks any recorder needs, recording nothing: the floor.

To see every tensor operation a script calls, gradtui enters a ``TorchFunctionMode``;
to see which line of the script runs, it sets a trace function (``sys.settrace``; the
cheaper ``sys.monitoring`` only exists from Python 3.12). Both cost time by merely being
there: torch routes every call through the mode's Python method, and CPython 3.11 takes
its slower evaluation path for every frame while a trace function is set.

This runner installs both with empty bodies (the mode passes each call straight through;
the trace function returns a no-op line tracer for the script's own frames, as gradtui
does) and runs the workload as ``__main__``. Its time over the plain run is the cost of
the hooks alone, before gradtui records anything.

``--hook monitoring`` (Python 3.12+) takes the lines from ``sys.monitoring`` instead, with
the events gradtui's monitoring backend asks for (``gradtui/engine/monitoring.py``):
``PY_START`` everywhere, answered ``DISABLE`` for code outside the workload's file;
``LINE``, ``JUMP``, ``PY_RETURN``, ``PY_YIELD`` and ``STOP_ITERATION`` on the workload's
code objects; ``RAISE`` and ``PY_UNWIND``, which cannot be local. All callbacks are empty.

Usage:  python bare_hooks.py [--hook settrace|monitoring] WORKLOAD [ARGS...]
        (default settrace)
"""

from __future__ import annotations

import os
import runpy
import sys
from types import CodeType
from typing import Any

from torch.overrides import TorchFunctionMode


class PassThrough(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*args, **(kwargs or {}))


def main() -> None:
    args = sys.argv[1:]
    hook = "settrace"
    if args[:1] == ["--hook"]:
        hook, args = args[1], args[2:]
    if hook not in ("settrace", "monitoring"):
        raise SystemExit(f"bare_hooks.py: --hook settrace or --hook monitoring, not {hook!r}")
    script = os.path.abspath(args[0])
    sys.argv = args
    sys.path.insert(0, os.path.dirname(script))
    with PassThrough():
        if hook == "monitoring":
            run_monitored(script)
        else:
            run_traced(script)


def run_traced(script: str) -> None:
    def on_line(frame: Any, event: str, arg: Any) -> Any:
        return on_line

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        return on_line if frame.f_code.co_filename == script else None

    sys.settrace(on_call)
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.settrace(None)


def run_monitored(script: str) -> None:
    if sys.version_info < (3, 12):
        raise SystemExit("bare_hooks.py: --hook monitoring needs Python 3.12 or later (sys.monitoring)")
    mon = sys.monitoring
    ev = mon.events
    tool = mon.DEBUGGER_ID
    local = ev.LINE | ev.JUMP | ev.PY_RETURN | ev.PY_YIELD | ev.STOP_ITERATION

    def on_start(code: CodeType, offset: int) -> Any:
        if code.co_filename != script:
            return mon.DISABLE
        mon.set_local_events(tool, code, local)
        return None

    def nothing(*args: object) -> Any:
        return None

    def on_jump(code: CodeType, source: int, target: int) -> Any:
        return mon.DISABLE if target > source else None

    mon.use_tool_id(tool, "bare_hooks")
    callbacks: dict[int, Any] = {ev.PY_START: on_start, ev.LINE: nothing, ev.JUMP: on_jump, ev.PY_RETURN: nothing,
                                 ev.PY_YIELD: nothing, ev.STOP_ITERATION: nothing, ev.RAISE: nothing,
                                 ev.PY_UNWIND: nothing}
    for event, callback in callbacks.items():
        mon.register_callback(tool, event, callback)
    mon.set_events(tool, ev.PY_START | ev.RAISE | ev.PY_UNWIND)
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        mon.set_events(tool, 0)
        mon.free_tool_id(tool)


if __name__ == "__main__":
    main()
