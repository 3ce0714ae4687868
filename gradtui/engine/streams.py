"""Capturing what the script prints without capturing anybody else's output.

``sys.stdout`` is one object for the whole process, but only the script's thread should
be recorded: the TUI, pytest and the trace printer write too. While a run is active,
``sys.stdout``/``sys.stderr`` are replaced by proxies that route each write by thread:
the script's writes become ``output`` events (one per completed line, or whatever is
pending when another event happens) and, when ``echo`` is set, still reach the terminal
at once; everyone else's writes go straight through.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

OutputSink = Callable[[str, str], None]


class RoutedStream:
    """A stand-in for ``sys.stdout``/``sys.stderr`` that routes writes by thread."""

    def __init__(self, original: TextIO, stream: str, router: StreamRouter) -> None:
        self._original = original
        self._stream = stream
        self._router = router

    def write(self, text: str) -> int:
        if threading.get_ident() == self._router.thread_id:
            self._router.captured(self._stream, text, self._original)
            return len(text)
        return self._original.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if threading.get_ident() == self._router.thread_id:
            self._router.flush(self._stream)
        try:
            self._original.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        # encoding, errors, fileno(), isatty(), buffer ... as the real stream has them.
        return getattr(self._original, name)


class StreamRouter:
    """Installs the proxies for one run and turns the script's writes into events."""

    def __init__(self, sink: OutputSink, echo: bool, lock: threading.RLock | None = None) -> None:
        self._sink = sink
        #: Held while pending output changes: a driver's thread may flush it (``Recorder``).
        self._lock = lock if lock is not None else threading.RLock()
        self.echo = echo
        self.thread_id: int | None = None
        self._pending: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._saved: tuple[Any, Any] | None = None

    def install(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = RoutedStream(sys.stdout, "stdout", self)
        sys.stderr = RoutedStream(sys.stderr, "stderr", self)

    def uninstall(self) -> None:
        self.flush_all()
        self._restore()

    def detach(self) -> None:
        """Stop capturing at once, emitting nothing: in a forked child nobody reads its events.

        What was pending is the parent's, copied by the fork; the parent still emits it.
        The child's writes go to the streams that were there before ``install``.
        """
        for pending in self._pending.values():
            pending.clear()
        self._restore()

    def _restore(self) -> None:
        if self._saved is not None:
            # Put back only our own proxies: a script that replaced sys.stdout keeps its own.
            if isinstance(sys.stdout, RoutedStream) and sys.stdout._router is self:
                sys.stdout = self._saved[0]
            if isinstance(sys.stderr, RoutedStream) and sys.stderr._router is self:
                sys.stderr = self._saved[1]
            self._saved = None
        self.thread_id = None

    def captured(self, stream: str, text: str, original: TextIO) -> None:
        if not text:
            return
        # Recorded before it is echoed: whatever reached the terminal is in the timeline,
        # even when a Ctrl-C comes the moment it appears. Echoed even when recording it
        # stops the script (a stopping gate raises after the event is appended).
        try:
            with self._lock:
                pending = self._pending[stream]
                pending.append(text)
                if text.endswith("\n"):
                    self.flush(stream)
        finally:
            if self.echo:
                try:
                    original.write(text)
                    original.flush()
                except (OSError, ValueError):
                    pass

    def flush(self, stream: str) -> None:
        with self._lock:
            pending = self._pending[stream]
            if pending:
                text = "".join(pending)
                pending.clear()
                self._sink(stream, text)

    def flush_all(self) -> None:
        pending = self._pending
        if pending["stdout"] or pending["stderr"]:  # before every event: usually nothing waits
            for stream in ("stdout", "stderr"):
                self.flush(stream)
