"""``gradtui --serve``: the debugger in web browsers, one session of its own per visitor.

textual-serve runs a command line once per browser that connects and relays the app's
screen and keys over a websocket (Textual's web driver speaks to it on stdin/stdout). The
command is gradtui itself, ``python -m gradtui [options] SCRIPT [ARGS]`` or ``... --replay
RUN``, so a visitor gets exactly what ``gradtui SCRIPT`` gives in a terminal, and visitors
never share a paused script.

Everything that can be wrong is found before the server starts, each one line for the CLI:
what the argument is (a script or notebook, or a recorded run; decided from the file's name
and first bytes, never by running it), and whether the address can be listened on. The
server itself is textual-serve's, with gradtui's own page (``gradtui.serve_page``) so that
nothing comes from the internet. textual_serve and aiohttp are imported only when serving,
to keep ``gradtui --help`` fast. Imports neither torch nor textual.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gradtui.model.cells import NOTEBOOK_SUFFIX
from gradtui.model.store.reader import is_recording_file
from gradtui.run_files import LAST, RunFileError, looks_like_json, resolve

#: What textual-serve sets ``TEXTUAL_DRIVER`` to in each session's environment: the app
#: then talks to the browser through pipes, and needs no terminal.
WEB_DRIVER = "textual.drivers.web_driver:WebDriver"
#: Exit statuses, as for the rest of gradtui: Ctrl-C and SIGTERM stop serving.
INTERRUPTED = 130
TERMINATED = 143
#: How long stopping waits for the sessions to exit (and for their websockets) before cutting them.
_SHUTDOWN_SECONDS = 3.0
#: The textual-serve this module and the page were written against: they use its private
#: ``Server._make_app``, ``Server._process_messages`` and ``AppService._process``, and the
#: file names of its static folder. pyproject.toml's dependency must pin the same.
TEXTUAL_SERVE = "textual-serve==1.1.3"


class ServeError(Exception):
    """What cannot be served, in one sentence for ``gradtui: ``."""


@dataclass(frozen=True, slots=True)
class Target:
    """What each visitor gets a session of: a script (or notebook) to run, or a recorded run to replay."""

    path: str
    is_run: bool

    @property
    def name(self) -> str:
        return Path(self.path).name


def under_web_driver(environ: dict[str, str] | Any) -> bool:
    """True in a session textual-serve started: the app may run without a terminal there."""
    return bool(environ.get("TEXTUAL_DRIVER") == WEB_DRIVER)


def choose_target(argument: str) -> Target:
    """Whether ``argument`` is a script or a run, from its name and first bytes; nothing is run or loaded.

    A run is ``last`` (resolved here, so that every visitor replays the same one), a
    recording (an SQLite file gradtui wrote), or a JSON timeline (``.json``, or a file other
    than ``.py``/``.ipynb`` that opens with ``{``). Anything else is a script for
    ``load_script`` to check.
    """
    if argument == LAST and not Path(argument).exists():
        try:
            return Target(str(resolve(argument)), is_run=True)
        except RunFileError as exc:
            raise ServeError(str(exc)) from None
    path = Path(argument)
    if not path.exists():
        raise ServeError(f"{argument}: no such file")
    if path.is_file():
        suffix = path.suffix.lower()
        if is_recording_file(path) or suffix == ".json":
            return Target(argument, is_run=True)
        if suffix not in (".py", NOTEBOOK_SUFFIX) and looks_like_json(path):
            return Target(argument, is_run=True)
    return Target(argument, is_run=False)


def session_command(target: Target, args: argparse.Namespace, script_args: Sequence[str]) -> list[str]:
    """The command line of one visitor's session: gradtui with the options that make sense for it.

    A replay takes only what ``--replay`` uses (theme, watches, stops); a script also takes
    what changes its recording (variables, values kept, steps kept, norm limits).
    """
    command = [sys.executable, "-m", "gradtui", "--theme", args.theme]
    for name in args.watch:
        command += ["--watch", name]
    for kind in args.break_on:
        command += ["--break-on", kind]
    if target.is_run:
        return [*command, "--replay", target.path]
    command += ["--max-values", str(args.max_values)]
    if args.no_variables:
        command.append("--no-variables")
    if args.keep_steps is not None:
        command += ["--keep-steps", str(args.keep_steps)]
    if args.grad_norm_above is not None:
        command += ["--grad-norm-above", repr(args.grad_norm_above)]
    if args.grad_norm_below is not None:
        command += ["--grad-norm-below", repr(args.grad_norm_below)]
    # A script named like an option would be read as one; ./ keeps it a path.
    script = target.path if not target.path.startswith("-") else f"./{target.path}"
    return [*command, script, *script_args]


def missing_server() -> str | None:
    """Why serving cannot start on this installation: textual-serve is not there (found without importing it)."""
    import importlib.util

    if importlib.util.find_spec("textual_serve") is None:
        return f"--serve needs textual-serve, which is not installed: pip install '{TEXTUAL_SERVE}'"
    return None


def address_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host``:``port``, or None; tried by binding, then let go."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"--host {host}: not an address to listen on ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As aiohttp listens: a port left in TIME_WAIT by an earlier server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is taken on {host} (something else listens there); choose another with --port N"
            if exc.errno == errno.EACCES:
                return f"port {port} needs administrator rights on {host}; choose one above 1023 with --port N"
            return f"cannot listen on {host}:{port} ({exc.strerror})"
    return None


def url(host: str, port: int) -> str:
    """The address to open: a host that means every interface is named by this machine's name."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def shell_command(command: Sequence[str]) -> str:
    """``command`` for the shell textual-serve runs it with, quoted; on POSIX ``exec`` makes the session's
    process gradtui itself (not a shell around it), so that ending the process ends the session."""
    if os.name == "posix":
        return "exec " + shlex.join(command)
    return subprocess.list2cmdline(command)  # cmd.exe


def _local_only(host: str) -> bool:
    """Whether only this machine can reach ``host`` (a loopback address or name)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(target: Target, command: Sequence[str], *, host: str, port: int, out: TextIO | None = None) -> int:
    """Serve until Ctrl-C (exit status 130) or SIGTERM (143); each visitor's session is ``command``."""
    out = sys.stdout if out is None else out
    logging.basicConfig(level=logging.WARNING, format="gradtui: serve: %(message)s")
    try:
        return asyncio.run(_serve(target, shell_command(command), host, port, out))
    except OSError as exc:  # the address was taken between the check and now
        sys.stderr.write(f"gradtui: cannot listen on {host}:{port} ({exc.strerror})\n")
        return 2


async def _serve(target: Target, command: str, host: str, port: int, out: TextIO) -> int:
    from aiohttp import web

    server = _server_class()(command, host=host, port=port, title=target.name)
    stopped = asyncio.Event()
    status = [0]
    loop = asyncio.get_running_loop()
    for signum, code in ((signal.SIGINT, INTERRUPTED), (signal.SIGTERM, TERMINATED)):
        def stop(code: int = code) -> None:
            status[0] = code
            stopped.set()

        loop.add_signal_handler(signum, stop)
    # textual-serve's Server.serve() would print its banner and run aiohttp's own loop;
    # run its aiohttp application here instead, to print one line once it listens and to
    # end with gradtui's exit status.
    runner = web.AppRunner(await server._make_app(), handle_signals=False, shutdown_timeout=_SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        what = "replay" if target.is_run else "session"
        exposed = "" if target.is_run or _local_only(host) else ", running it on this machine as you"
        out.write(f"gradtui: serving {target.path} at {url(host, port)} (open it in a web browser; each visitor "
                  f"gets a {what} of their own{exposed}); Ctrl-C stops it\n")
        out.flush()
        await stopped.wait()
        await _end_sessions(server.sessions)
    finally:
        await runner.cleanup()
    out.write("gradtui: stopped serving\n")
    out.flush()
    return status[0]


async def _end_sessions(sessions: dict[Any, Any]) -> None:
    """End each session as its visitor closing the page would, and wait until its process has exited.

    Closing the websocket makes textual-serve tell the app to quit; a session that has not
    exited after ``_SHUTDOWN_SECONDS`` (a script inside one long C call) is killed.
    """
    processes = [service._process for service in sessions.values() if service._process is not None]
    await asyncio.gather(*(websocket.close() for websocket in list(sessions)))
    waits = [asyncio.ensure_future(process.wait()) for process in processes]
    if not waits:
        return
    _, late = await asyncio.wait(waits, timeout=_SHUTDOWN_SECONDS)
    for process, wait in zip(processes, waits):
        if wait in late and process.returncode is None:
            process.kill()
    await asyncio.wait(waits, timeout=_SHUTDOWN_SECONDS)


def _server_class() -> type[Any]:
    """textual-serve's Server with gradtui's page (imported here: aiohttp is slow to import)."""
    from aiohttp import web
    from textual_serve.server import Server

    from gradtui.serve_page import page

    class GradtuiServer(Server):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            #: Each visitor's websocket and textual-serve's AppService of their session, so that
            #: stopping can end the sessions first.
            self.sessions: dict[web.WebSocketResponse, Any] = {}

        async def on_startup(self, app: web.Application) -> None:
            """Nothing: textual-serve's banner would print the whole command line; ``_serve`` prints one line."""

        async def _process_messages(self, websocket: web.WebSocketResponse, app_service: Any) -> None:
            """textual-serve's relay of one visitor's keys, while it lasts (its session ends with it)."""
            self.sessions[websocket] = app_service
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                self.sessions.pop(websocket, None)

        async def handle_index(self, request: web.Request) -> web.Response:
            """gradtui's page in place of textual-serve's (``?fontsize=N`` as there)."""
            size = request.query.get("fontsize", "16")
            font_size = min(max(int(size), 6), 64) if size.isdigit() else 16
            return web.Response(text=page(name=self.title, host=request.host, secure=request.secure,
                                          font_size=font_size), content_type="text/html")

    return GradtuiServer
