"""The writer's process: reads batches of events from its stdin and commits them to the recording.

Started by ``StoreWriter`` as ``python -P -m gradtui.model.store.writer_process PATH [KEEP_STEPS]``
in a session of its own (a Ctrl-C in the terminal is the script's to handle; the recording
is closed by the script's side, with the status it chooses). Frames in (``transport``):
``("batch", items, sources, target)`` and ``("finish", status, exit_code, error, sources)``;
frames out: ``("ready", None)`` once the file is open, ``("written", target)`` once a batch
is committed, ``("finished", None)``, or ``("failed", message)`` before it exits. If the
script's side disappears (killed), its end of the pipe closes: everything committed stays,
and the run's status stays ``running``, which readers report as a run that was killed.

Imports neither torch nor textual: it starts in a fraction of the time the script takes to
import torch, and its memory is the SQLite cache and the writer's tables.
"""

from __future__ import annotations

import signal
import sqlite3
import sys
from typing import Any, BinaryIO

from gradtui.model.store import transport
from gradtui.model.store.row_writer import RowWriter


def serve(path: str, keep_steps: int | None, inp: BinaryIO, out: BinaryIO) -> int:
    """Write what arrives on ``inp`` into ``path``, answering on ``out``; the exit status."""

    def say(*message: Any) -> None:
        out.write(transport.dumps(message))
        out.flush()

    try:
        rows = RowWriter(path, keep_steps)
    except sqlite3.Error as exc:
        say("failed", f"{path}: cannot write the recording ({exc})")
        return 1
    say("ready", None)
    while True:
        try:
            frame = transport.read_frame(inp)
        except EOFError:
            rows.abandon()
            return 0
        try:
            if frame[0] == "batch":
                _, items, sources, target = frame
                rows.write(items, sources)
                say("written", target)
            else:
                _, status, exit_code, error, sources = frame
                rows.finish(status, exit_code, error, sources)
                say("finished", None)
                return 0
        except (sqlite3.Error, OSError) as exc:
            verb = "write" if frame[0] == "batch" else "finish"
            say("failed", f"{path}: cannot {verb} the recording ({exc})")
            return 1
        except Exception as exc:  # a bug of ours: say what, keep what was committed
            say("failed", f"{path}: the recording's writer failed ({type(exc).__name__}: {exc})")
            return 1


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    path = argv[0]
    keep_steps = int(argv[1]) if len(argv) > 1 else None
    try:
        return serve(path, keep_steps, sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:  # the script's side is gone while we answered
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
