"""``gradtui --serve`` as a user starts it, for the tests: a real server process on a free local port.

The server runs in a process group of its own, so that stopping it also stops every
session it started; whatever a test does, ``stop`` (or leaving the ``with``) kills the
group, and every wait has a timeout, so a test never hangs on a server.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType

from tests.conftest import REPO

#: How long a server may take to say it is listening (it imports aiohttp, not torch).
START_SECONDS = 30.0


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice, let go at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    """``gradtui --serve --port P *args`` in REPO; ``url`` once it printed that it listens."""

    def __init__(self, *args: str, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-m", "gradtui", "--serve", "--port", str(self.port), *args],
                                     cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8", start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr = ""
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def wait_listening(self, timeout: float = START_SECONDS) -> str:
        """The line the server printed once it listens; fails the test if none came in time."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith("gradtui: serving "):
                return line
        self.stop()
        raise AssertionError(f"the server did not start listening within {timeout} s: "
                             f"exit {self.proc.returncode}, stdout {''.join(self.stdout)!r}, stderr {self.stderr!r}")

    def interrupt(self, timeout: float = 20.0, signum: int = signal.SIGINT) -> int | None:
        """Ctrl-C (or ``signum``) to the server process alone; its exit status, or None if it was still running
        after ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for reader in self._readers:
            reader.join(5)
        return code

    def group_alive(self) -> bool:
        """Whether any process of the server's group (the server, its sessions) is still there."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """Kill the server and every session it started (its process group), whatever state they are in."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
            pass

    def __enter__(self) -> Served:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
