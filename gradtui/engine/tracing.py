"""Which hook gives the line tracer its events in the script's thread, and switching it off.

``sys.monitoring`` (``gradtui.engine.monitoring``) on Python 3.12 and later, where it is the
cheaper hook; ``sys.settrace`` on 3.11, or when another tool holds the monitoring id. The
events are the same either way (``LineTracer`` decides what each one means). The rest of
the engine switches tracing through here and never asks which hook it is: a pause's
evaluation (``gradtui.engine.suspension``) and a forked child (``gradtui.engine.forking``).

``_GRADTUI_TRACER=settrace`` in the environment forces ``sys.settrace`` on 3.12+: private,
for the tests that compare the two hooks and the benchmark that measures them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 12):
    from gradtui.engine import monitoring

if TYPE_CHECKING:
    from gradtui.engine.line_tracer import LineTracer

#: The environment variable that forces ``sys.settrace`` (see the module's docstring).
FORCE_VARIABLE = "_GRADTUI_TRACER"


def uses_monitoring() -> bool:
    """True if a run started now would try ``sys.monitoring`` first."""
    return sys.version_info >= (3, 12) and os.environ.get(FORCE_VARIABLE) != "settrace"


@contextmanager
def installed(tracer: LineTracer) -> Iterator[None]:
    """``tracer`` sees the calling thread's lines while inside (the script's thread, for its run)."""
    if sys.version_info >= (3, 12) and uses_monitoring() and monitoring.start(tracer):
        try:
            yield
        finally:
            monitoring.stop()
        return
    sys.settrace(tracer.trace_call)
    try:
        yield
    finally:
        sys.settrace(None)


class Saved:
    """What ``switch_off`` switched off in this thread, for ``switch_back``."""

    __slots__ = ("trace", "monitored")

    def __init__(self, trace: Callable[..., Any] | None, monitored: bool) -> None:
        self.trace = trace
        self.monitored = monitored


def switch_off() -> Saved:
    """No line events in the calling thread until ``switch_back`` (whichever hook gives them)."""
    monitored = False
    if sys.version_info >= (3, 12):
        monitored = monitoring.switch(False)
    saved = Saved(sys.gettrace(), monitored)
    sys.settrace(None)
    return saved


def switch_back(saved: Saved) -> None:
    if sys.version_info >= (3, 12) and saved.monitored:
        monitoring.switch(True)
    sys.settrace(saved.trace)


def drop_in_child() -> None:
    """In a process just forked: no line tracing of any run, ever again."""
    sys.settrace(None)
    if sys.version_info >= (3, 12):
        monitoring.release_in_child()
