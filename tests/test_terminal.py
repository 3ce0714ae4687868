"""The debugger in a real pseudo-terminal: it starts, answers keys, quits promptly, and
leaves the terminal as it found it (alternate screen left, cursor shown, mouse off)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, SCENARIOS, SCRIPTS

#: What Textual writes when it hands the terminal back.
LEAVE_ALT_SCREEN = b"\x1b[?1049l"
SHOW_CURSOR = b"\x1b[?25h"


class Terminal:
    def __init__(self, *args: str, command: list[str] | None = None) -> None:
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES", "TEXTUAL_THEME")}
        env["TERM"] = "xterm-256color"
        command = command or [sys.executable, "-m", "gradtui", *args]
        self.proc = subprocess.Popen(command, cwd=REPO, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.output = b""

    def read_until(self, needle: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.master], [], [], min(left, 0.1))
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    return needle in self.output
        return True

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_until(b"\x00never", 0.05)
            code = self.proc.poll()
            if code is not None:
                self.read_until(b"\x00never", 0.2)
                return code
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        os.close(self.master)


@pytest.fixture
def terminal():
    opened: list[Terminal] = []

    def open_(*args: str, command: list[str] | None = None) -> Terminal:
        opened.append(Terminal(*args, command=command))
        return opened[-1]

    yield open_
    for t in opened:
        t.close()


def test_accumulation_in_a_real_terminal_then_q(terminal) -> None:
    t = terminal(str(SCENARIOS / "accumulation.py"))
    assert t.read_until(b"event 1 / 1+", 60), t.output[-2000:]
    t.press(b"c")
    assert t.read_until(b"the script finished", 30), t.output[-2000:]
    t.press(b"E")
    assert t.read_until(b"backward #6", 10)
    t.press(b"q")
    assert t.wait_exit(10) == 0
    assert LEAVE_ALT_SCREEN in t.output and t.output.rfind(SHOW_CURSOR) > t.output.rfind(b"\x1b[?25l")


@pytest.mark.parametrize("script", ["hostile_forever.py", "hostile_sleep.py"])
def test_a_script_that_never_ends_quits_within_a_second(terminal, script: str) -> None:
    t = terminal(str(SCRIPTS / script))
    assert t.read_until(b"event 1 / 1+", 60), t.output[-2000:]
    t.press(b"c")
    assert t.read_until(b"running", 10), t.output[-2000:]
    t.press(b"?")  # the screen keeps answering while the script runs
    assert t.read_until(b"gradtui keys", 10)
    t.press(b"\x1b")
    time.sleep(0.3)
    t.press(b"\x11")  # ctrl+q
    start = time.monotonic()
    assert t.wait_exit(10) == 0
    assert time.monotonic() - start < 1.5
    assert LEAVE_ALT_SCREEN in t.output


def test_the_terminal_is_restored_when_the_app_itself_crashes(terminal) -> None:
    """A bug in a panel (simulated here) must still hand the terminal back."""
    crash = (
        "import sys\n"
        "import gradtui.ui.widgets.status as status\n"
        "original = status.render_status\n"
        "def render(view):\n"
        "    if view.cursor > 2:\n"
        "        raise RuntimeError('simulated crash of a panel')\n"
        "    return original(view)\n"
        "status.render_status = render\n"
        "from gradtui.cli import main\n"
        f"sys.exit(main([{str(SCENARIOS / 'accumulation.py')!r}]))\n"
    )
    term = terminal(command=[sys.executable, "-c", crash])
    assert term.read_until(b"event 1 / 1+", 60), term.output[-2000:]
    term.press(b"c")
    code = term.wait_exit(30)
    assert code not in (None, 0)
    assert LEAVE_ALT_SCREEN in term.output
    assert b"simulated crash of a panel" in term.output
