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

Usage:  python bare_hooks.py WORKLOAD [ARGS...]
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

from torch.overrides import TorchFunctionMode


class PassThrough(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*args, **(kwargs or {}))


def main() -> None:
    script = os.path.abspath(sys.argv[1])
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(script))

    def on_line(frame: Any, event: str, arg: Any) -> Any:
        return on_line

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        return on_line if frame.f_code.co_filename == script else None

    with PassThrough():
        sys.settrace(on_call)
        try:
            runpy.run_path(script, run_name="__main__")
        finally:
            sys.settrace(None)


if __name__ == "__main__":
    main()
