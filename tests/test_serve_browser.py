"""``gradtui --serve`` in a real browser: headless Chromium opens the page, steps with keys, sees the gradients.

textual-serve's page draws the terminal on a canvas (xterm.js with its WebGL and canvas
renderers), so there is no screen text in the DOM. The test reads instead what xterm.js
itself holds in the browser: its screen buffer, the characters it draws. A script added
to the page before textual.js runs keeps a reference to the Terminal that textual.js
creates (textual.js assigns it to ``this.terminal``; a setter on ``Object.prototype``
sees the assignment). The values are compared with torch run directly.

Needs playwright (the test extras) and Debian's ``chromium`` (.ci/run installs it where
it can); without either, the test is skipped and says which is missing. A screenshot of
the served app is kept in ``$GRADTUI_ARTIFACTS`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.serving import Served

CHROMIUM = os.environ.get("GRADTUI_CHROMIUM", "/usr/bin/chromium")
#: Every wait in the browser, in milliseconds: a session starts in about 4 s (its torch import).
WAIT_MS = 45_000

KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer && value.buffer.active) window.__gradtuiTerminal = value;
  },
});
window.__screenText = () => {
  const term = window.__gradtuiTerminal;
  if (!term) return "";
  const buffer = term.buffer.active, rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
};
"""


def artifacts() -> Path:
    folder = Path(os.environ.get("GRADTUI_ARTIFACTS", REPO / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                   "(pip install -e '.[test]' installs it)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; "
                    "or name one with GRADTUI_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, timeout=WAIT_MS)
        try:
            yield chromium
        finally:
            chromium.close()


def torch_accumulated_grads() -> list[str]:
    """theta.grad after each of the scenario's four backward() calls with no zero_grad(), by torch itself."""
    import torch

    theta = torch.nn.Parameter(torch.Tensor([1]))
    grads = []
    for _ in range(4):
        (theta * theta).backward()
        assert theta.grad is not None
        grads.append(f"{theta.grad.item():g}")
    return grads


def screen(page: Any) -> str:
    return str(page.evaluate("window.__screenText()"))


def wait_for_screen(page: Any, text: str) -> None:
    try:
        page.wait_for_function("(text) => window.__screenText().includes(text)", arg=text, timeout=WAIT_MS)
    except Exception as exc:  # playwright's TimeoutError: say what the screen showed instead
        raise AssertionError(f"{text!r} never appeared on the served screen:\n{screen(page)}") from exc


def test_the_served_debugger_steps_in_chromium_and_shows_the_gradients_accumulate(browser: Any) -> None:
    grads = torch_accumulated_grads()
    assert grads == ["2", "4", "6", "8"]  # the tutorial's numbers
    with Served("scenarios/accumulation.py") as server:
        server.wait_listening()
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(WAIT_MS)
        page.add_init_script(KEEP_TERMINAL)
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        opened = time.monotonic()
        page.goto(server.url + "/")
        wait_for_screen(page, "event 1 / 1+")  # the session's own script, paused before its first line
        started = time.monotonic() - opened
        page.locator("#terminal").click()
        for n in range(1, len(grads) + 1):
            page.keyboard.press("e")  # on to the next event that changes gradients: each backward()
            wait_for_screen(page, f"backward #{n}")
            wait_for_screen(page, f"theta.grad  None → {' → '.join(grads[:n])}")
        text = screen(page)
        assert f"theta.grad  None → {' → '.join(grads)}" in text
        assert f"theta.grad {grads[2]} → {grads[3]} (added to the old value; nothing reset it)" in text
        time.sleep(0.3)  # let the last frame reach the canvas before it is photographed
        shot = artifacts() / "served-accumulation.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        assert [url for url in asked if not url.startswith(server.url)] == []  # works offline
        assert started < 40, f"the session took {started:.1f} s to show its first screen"
        page.close()
        assert server.interrupt() == 130
