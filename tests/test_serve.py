"""``gradtui --serve`` without a browser: what it refuses, the page it serves, the sessions it starts.

Bad input is a real process each time: exit 2, one ``gradtui:`` line, no traceback, and
nothing listening. The page is fetched from a real server and must name nothing outside
it (a classroom may have no internet). A session is started as textual-serve starts one
(Textual's web driver, pipes, no terminal) and must come up, while the same command
without the web driver is refused for want of a terminal.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from argparse import Namespace
from pathlib import Path

import pytest

from gradtui import cli, serve
from gradtui.serve import WEB_DRIVER, Target, choose_target, session_command
from tests.conftest import REPO, SCENARIOS
from tests.recording_tools import gradtui, record_json, recording_of
from tests.serving import Served
from tests.test_cli import assert_usage_error
from tests.test_layers import modules_after_import

ACCUMULATION = "scenarios/accumulation.py"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a JSON timeline of accumulation.py, the same run filed as a recording)."""
    folder = tmp_path_factory.mktemp("serve-runs")
    timeline = record_json(SCENARIOS / "accumulation.py", folder / "run.json")
    return timeline, recording_of(timeline, folder / "run.db")


# ---------------------------------------------------------------- what is served


def test_serving_imports_no_torch_and_the_server_only_when_it_serves() -> None:
    loaded = modules_after_import("gradtui.serve", "gradtui.serve_page")
    assert {"torch", "textual", "aiohttp", "textual_serve"} & loaded == set()


def test_scripts_and_notebooks_are_run_and_recordings_and_timelines_replayed(tmp_path: Path,
                                                                           runs: tuple[Path, Path]) -> None:
    timeline, recording = runs
    notebook = tmp_path / "tutorial.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    no_suffix = tmp_path / "exported"
    no_suffix.write_bytes(timeline.read_bytes())
    recording_renamed = tmp_path / "run.py.bak"
    recording_renamed.write_bytes(recording.read_bytes())
    assert choose_target(ACCUMULATION) == Target(ACCUMULATION, is_run=False)
    assert choose_target(str(notebook)) == Target(str(notebook), is_run=False)  # JSON, but a notebook
    assert choose_target(str(timeline)).is_run
    assert choose_target(str(recording)).is_run
    assert choose_target(str(no_suffix)).is_run
    assert choose_target(str(recording_renamed)).is_run  # by its first bytes, not its name


def test_last_is_resolved_once_so_every_visitor_replays_the_same_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     runs: tuple[Path, Path]) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    newest = cache / "20250101-000000-accumulation-1.gradtui.db"
    newest.write_bytes(runs[1].read_bytes())
    monkeypatch.setenv("GRADTUI_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    assert choose_target("last") == Target(str(newest), is_run=True)


def _parsed(command: list[str]) -> Namespace:
    """``command``'s gradtui arguments as gradtui itself would read them."""
    assert command[:3] == [sys.executable, "-m", "gradtui"]
    own, script_args = cli.split_script_args(command[3:])
    args = cli.build_parser().parse_args(own)
    args.args = script_args
    return args


def test_a_session_of_a_script_gets_the_options_that_shape_the_debugger_and_the_script_args() -> None:
    given = ["--serve", "--port", "8123", "--theme", "nord", "--watch", "theta", "--watch", "lr",
             "--break-on", "nan", "--max-values", "7", "--no-variables", "--keep-steps", "3",
             "--grad-norm-above", "0.1", ACCUMULATION, "--epochs", "3", "--serve"]
    own, script_args = cli.split_script_args(given)
    args = cli.build_parser().parse_args(own)
    session = _parsed(session_command(Target(ACCUMULATION, is_run=False), args, script_args))
    assert not session.serve and session.replay is None  # each session is the plain debugger
    assert (session.theme, session.watch, session.break_on) == ("nord", ["theta", "lr"], ["nan"])
    assert (session.max_values, session.no_variables, session.keep_steps) == (7, True, 3)
    assert (session.grad_norm_above, session.grad_norm_below) == (0.1, None)
    assert (session.script, session.args) == (ACCUMULATION, ["--epochs", "3", "--serve"])


def test_a_session_of_a_run_is_a_replay_with_only_what_a_replay_takes() -> None:
    args = cli.build_parser().parse_args(["--serve", "--theme", "nord", "--watch", "theta", "--no-variables", "r.db"])
    session = _parsed(session_command(Target("r.db", is_run=True), args, []))
    assert (session.replay, session.script, session.theme, session.watch) == ("r.db", None, "nord", ["theta"])
    assert not session.no_variables


def test_a_script_named_like_an_option_stays_a_script() -> None:
    args = cli.build_parser().parse_args(["--serve", "x.py"])
    assert _parsed(session_command(Target("-x.py", is_run=False), args, [])).script == "./-x.py"


@pytest.mark.skipif(os.name != "posix", reason="textual-serve runs the command with /bin/sh here")
def test_the_command_reaches_the_shell_verbatim_and_the_shell_becomes_the_session() -> None:
    args = ["a script.py", "it's", "$HOME", "--x=1;ls", "*"]
    command = [sys.executable, "-c", "import os, sys; print(sys.argv[1:]); print(os.getppid())", *args]
    r = subprocess.run(serve.shell_command(command), shell=True, capture_output=True, text=True, timeout=30)
    argv, parent = r.stdout.splitlines()
    assert argv == repr(args)
    assert int(parent) == os.getpid()  # no shell left between the server and the session


def test_the_address_to_open_names_this_machine_when_serving_every_interface() -> None:
    assert serve.url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert serve.url("0.0.0.0", 8000) == f"http://{socket.gethostname()}:8000"
    assert serve.url("::1", 9000) == "http://[::1]:9000"


# ---------------------------------------------------------------- bad input, before anything listens


@pytest.mark.parametrize(("args", "words"), [
    (["--serve"], "needs a SCRIPT to run, or a RUN"),
    (["--serve", "missing.py"], "missing.py: no such file"),
    (["--serve", "--theme", "no-such-theme", ACCUMULATION], "unknown theme 'no-such-theme'"),
    (["--serve", "--port", "0", ACCUMULATION], "'0' is not a port: give a number from 1 to 65535"),
    (["--serve", "--port", "65536", ACCUMULATION], "'65536' is not a port"),
    (["--serve", "--port", "http", ACCUMULATION], "'http' is not a whole number"),
    (["--serve", "--host", "no-such-host.invalid", ACCUMULATION], "--host no-such-host.invalid: not an address"),
    (["--serve", "--record", "out.db", ACCUMULATION], "cannot be combined with --record, --trace or --replay"),
    (["--serve", "--trace", ACCUMULATION], "cannot be combined with --record, --trace or --replay"),
    (["--serve", "--replay", "last"], "to serve a recorded run: gradtui --serve RUN"),
    (["--port", "8001", ACCUMULATION], "--host and --port say where --serve listens; give --serve too"),
    (["--host", "127.0.0.1", ACCUMULATION], "--host and --port say where --serve listens; give --serve too"),
    (["--serve", "scenarios"], "scenarios: is a directory"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_line(args: list[str], words: str) -> None:
    assert words in assert_usage_error(gradtui(*args))


def test_a_script_with_a_syntax_error_is_refused_with_its_line(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("x = (\n")
    assert "broken.py:1: SyntaxError" in assert_usage_error(gradtui("--serve", script))


def test_a_run_takes_no_args_and_a_damaged_one_is_refused(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    assert "a replay runs nothing, so it takes no ARGS" in assert_usage_error(gradtui("--serve", runs[0], "x"))
    cut = tmp_path / "cut.json"
    cut.write_bytes(runs[0].read_bytes()[:100])
    assert str(cut) in assert_usage_error(gradtui("--serve", cut))


def test_a_port_that_is_taken_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = assert_usage_error(gradtui("--serve", "--port", str(port), ACCUMULATION))
    assert line == (f"gradtui: port {port} is taken on 127.0.0.1 (something else listens there); "
                    "choose another with --port N")


def test_without_textual_serve_serving_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "textual_serve" else real(name))
    assert serve.missing_server() == ("--serve needs textual-serve, which is not installed: "
                                      "pip install 'textual-serve==1.1.3'")


# ---------------------------------------------------------------- the page


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode("utf-8", "replace")


def test_the_page_loads_and_names_nothing_outside_the_server() -> None:
    with Served(ACCUMULATION) as server:
        line = server.wait_listening()
        assert line == (f"gradtui: serving {ACCUMULATION} at http://127.0.0.1:{server.port} (open it in a web "
                        "browser; each visitor gets a session of their own); Ctrl-C stops it\n")
        status, page = _get(server.url + "/")
        assert status == 200
        assert "<title>gradtui · accumulation.py</title>" in page
        references = re.findall(r'(?:src|href)="([^"]*)"|url\("?([^")]*)"?\)', page)
        assets = [a or b for a, b in references]
        assert {"/static/js/textual.js", "/static/css/xterm.css"} <= set(assets)
        assert [a for a in assets if not a.startswith("/")] == []  # all on this server
        for asset in assets:
            status, text = _get(server.url + asset)
            assert status == 200, asset
            if asset.endswith(".js"):  # nothing the script would fetch from elsewhere
                assert re.findall(r"https?://[\w.-]+\.\w+", text) == [], asset
        assert re.findall(r"https?://", page) == []
        # The websocket goes back to the host the browser asked, also when it is not 127.0.0.1.
        assert f'data-session-websocket-url="ws://127.0.0.1:{server.port}/ws"' in page
        _, classroom = _get(server.url + "/", host="classroom-pc:8000")
        assert 'data-session-websocket-url="ws://classroom-pc:8000/ws"' in classroom


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["INT", "TERM"])
def test_a_signal_stops_serving_with_gradtuis_status_and_no_traceback(signum: int, status: int) -> None:
    with Served(ACCUMULATION) as server:
        server.wait_listening()
        assert server.interrupt(signum=signum) == status
        assert server.stdout[-1] == "gradtui: stopped serving\n"
        assert "Traceback" not in server.stderr, server.stderr
        with pytest.raises(OSError):
            _get(server.url + "/")


async def test_a_visitor_gets_a_session_and_ctrl_c_ends_it_before_the_server_exits() -> None:
    """A websocket client in place of a browser: the session's screen arrives, and stopping leaves no process."""
    import aiohttp

    with Served(ACCUMULATION) as server:
        server.wait_listening()
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(f"ws://127.0.0.1:{server.port}/ws?width=100&height=30") as websocket:
                screen = b""
                deadline = time.monotonic() + 60
                while b"accumulation.py" not in screen and time.monotonic() < deadline:
                    message = await websocket.receive(timeout=60)
                    if message.type != aiohttp.WSMsgType.BINARY:
                        break
                    screen += message.data
                assert b"accumulation.py" in screen  # the Source panel's title, drawn by the session
                stopped = time.monotonic()
                assert server.interrupt(signum=signal.SIGINT) == 130
                assert time.monotonic() - stopped < 10
        assert not server.group_alive(), "a session outlived the server"
        assert "Traceback" not in server.stderr, server.stderr


# ---------------------------------------------------------------- a session, as textual-serve starts it


def _session(env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = cli.build_parser().parse_args(["--serve", ACCUMULATION])
    command = session_command(Target(ACCUMULATION, is_run=False), args, [])
    return subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def test_a_session_starts_without_a_terminal_under_the_web_driver_and_quits_when_told() -> None:
    proc = _session({"TEXTUAL_DRIVER": WEB_DRIVER, "COLUMNS": "100", "ROWS": "30"})
    try:
        assert proc.stdout is not None and proc.stdin is not None
        deadline = time.monotonic() + 60
        seen = b""
        while b"__GANGLION__\n" not in seen and time.monotonic() < deadline:  # the web driver's greeting
            chunk = proc.stdout.readline()
            if not chunk:
                break
            seen += chunk
        assert b"__GANGLION__\n" in seen, (seen, proc.poll())
        quit_meta = json.dumps({"type": "quit"}).encode()
        proc.stdin.write(b"M" + len(quit_meta).to_bytes(4, "big") + quit_meta)  # what textual-serve sends
        proc.stdin.flush()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.parametrize("driver", [None, "textual.drivers.headless_driver:HeadlessDriver"])
def test_without_the_web_driver_the_same_session_needs_a_terminal(driver: str | None) -> None:
    env = {} if driver is None else {"TEXTUAL_DRIVER": driver}
    proc = _session(env)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2
    assert err.decode().startswith("gradtui: the debugger needs a terminal"), err

