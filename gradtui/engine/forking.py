"""A process the script forks runs free of gradtui: it cannot reach the debugger.

``os.fork()`` copies the script's thread into the child with everything gradtui put on
it: the line tracer, the ``TorchFunctionMode``, the stream proxies and the gate. The
child's events would go to a copy of the timeline nobody reads, and the first pause
would wait for a command no driver can send: a ``DataLoader`` with ``num_workers``
hung the debugger that way, its workers each stopped at their first line. So, right
after every fork, the child takes gradtui off: no tracer, no recorder mode, the streams
that were there before gradtui's proxies back, a recorder whose gate never waits, and
the run's patches (step, zero_grad, ``Function.apply``, ``input``) pass straight through
because the child is another process (``Attribution.in_script_thread`` compares process
ids: the child's thread has the same ident as the parent's script thread).

A forked child that comes back out of the script (a script's own ``os.fork()``, not a
multiprocessing worker, which always leaves through ``os._exit``) ends its process
where the script ends, with the status ``python SCRIPT`` would give it: the thread it
runs in is not a thread the child's interpreter can finish.

Processes started with the ``spawn`` or ``forkserver`` methods are fresh interpreters
that import the script as ``__mp_main__`` (from the ``__file__`` of the session's
``__main__``); gradtui is not in them at all.

In the debugged process, a ``DataLoader`` with workers says once (a note on stderr)
that its dataset's code runs elsewhere, unseen.

``os.register_at_fork`` cannot be undone: each session registers one hook, which
``close`` makes inert. This module must not record anything in a child: the child's
work is not the debugged process's.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader

from gradtui.engine import tracebacks, tracing
from gradtui.engine.control import Gate
from gradtui.engine.ops import OpRecorder
from gradtui.engine.recorder import Recorder
from gradtui.model.navigation import Continue

WORKERS_NOTE = (
    "gradtui: this DataLoader loads its batches in {workers}; the dataset's code "
    "(__getitem__) runs there, where gradtui does not step through or record it. The batches "
    "they hand back are recorded here.\n"
)


class ForkGuard:
    """Takes one run out of every process forked while it runs."""

    def __init__(self, recorder: Recorder, note_once: Callable[[str, str], None],
                 is_engine_file: Callable[[str], bool]) -> None:
        self._recorder: Recorder | None = recorder
        self._note_once = note_once
        self._is_engine_file = is_engine_file
        self._pid = os.getpid()
        self._undo: list[Callable[[], None]] = []

    def install(self) -> None:
        """Register the after-fork hook, and the note on DataLoader workers."""
        self._pid = os.getpid()
        os.register_at_fork(after_in_child=self._after_in_child)
        self._note_data_loader_workers()

    def close(self) -> None:
        """The run is over: the hook stays registered but does nothing any more."""
        self._recorder = None
        while self._undo:
            self._undo.pop()()

    def in_child(self) -> bool:
        """True in a process forked from the one the run is in."""
        return os.getpid() != self._pid

    def run_script(self, run: Callable[[], None]) -> None:
        """Call ``run``; a forked child that returns or raises out of it ends here."""
        try:
            run()
        except BaseException as exc:
            if self.in_child():
                self._end_child(exc)
            raise
        if self.in_child():
            self._end_child(None)

    # ------------------------------------------------------------------ in the child

    def _after_in_child(self) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        self._recorder = None  # a grandchild has nothing of this run left to undo
        tracing.drop_in_child()
        _drop_recorders()
        recorder.router.detach()
        recorder.gate = Gate(Continue())

    def _end_child(self, exc: BaseException | None) -> None:
        """End the forked child as ``python SCRIPT`` ends: flush, then exit with its status."""
        code = 0
        if isinstance(exc, SystemExit):
            if isinstance(exc.code, int):
                code = exc.code
            elif exc.code is not None:
                print(exc.code, file=sys.stderr)
                code = 1
        elif exc is not None:
            tracebacks.strip_engine_frames(exc, self._is_engine_file)
            traceback.print_exception(exc)
            code = 130 if isinstance(exc, KeyboardInterrupt) else 1  # 130: as a shell reports Ctrl-C
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(code)

    # ------------------------------------------------------------------ in the parent

    def _note_data_loader_workers(self) -> None:
        guard = self
        original = DataLoader.__iter__

        def iter_(loader: DataLoader[Any], *args: object, **kwargs: object) -> object:
            workers = getattr(loader, "num_workers", 0)
            if guard._recorder is not None and isinstance(workers, int) and workers > 0:
                processes = "1 worker process" if workers == 1 else f"{workers} worker processes"
                guard._note_once("data-loader-workers", WORKERS_NOTE.format(workers=processes))
            return original(loader, *args, **kwargs)

        iter_.__wrapped__ = original  # type: ignore[attr-defined]
        DataLoader.__iter__ = iter_  # type: ignore[method-assign,assignment]
        self._undo.append(lambda: setattr(DataLoader, "__iter__", original))


def _drop_recorders() -> None:
    """Pop gradtui's recorder modes off this thread's torch function mode stack, keep the rest."""
    kept = []
    for _ in range(torch._C._len_torch_function_stack()):
        mode = torch._C._pop_torch_function_stack()
        if not isinstance(mode, OpRecorder):
            kept.append(mode)
    for mode in reversed(kept):
        torch._C._push_on_torch_function_stack(mode)
