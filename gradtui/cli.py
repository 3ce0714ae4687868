"""The ``gradtui`` command: parse the arguments, check them, pick a driver.

Everything the user can get wrong is checked here before a thread starts or torch is
imported: usage, the script file, the output path. Each problem is one line on stderr
and exit status 2. Options come before SCRIPT; everything after it is the script's.
The options are the rows of ``gradtui.cli_options``; the keys in the epilog come from
``gradtui.ui.keys``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import NoReturn

from gradtui import __version__
from gradtui.cli_options import DEFAULT_HOST, DEFAULT_PORT, MODES, OPTIONS, takes_value
from gradtui.model.stops import StopSpecError, parse_stop
from gradtui.ui.keys import cli_summary

USAGE_ERROR = 2

DESCRIPTION = """\
Step through a PyTorch script one operation at a time and watch autograd work:
the grad_fn graph, each leaf's .grad across backward calls, zero_grad() and step().
"""

EPILOG = f"""\
exit status: 0 when the script finished, 1 when it raised, the script's own code when
it called sys.exit(), 130 when interrupted (Ctrl-C), 2 for bad usage, 3 when a
--break-on stop ended a headless run.

{cli_summary()}

examples:
  gradtui scenarios/accumulation.py
  gradtui --watch theta scenarios/gd_plain_python.py
  gradtui --trace scenarios/accumulation.py
  gradtui --record run.json train.py --epochs 3
  gradtui --replay run.json
  gradtui --replay last                  the newest run the debugger kept
  gradtui --serve train.py               the debugger in web browsers, at http://127.0.0.1:8000
  gradtui export last -o run.json        a recording as a JSON timeline (see 'gradtui export --help')
  gradtui --compare "train.py --lr 0.1" "train.py --lr 0.01"
                                         two runs side by side (see 'gradtui --compare --help')
  gradtui diff "train.py --lr 0.1" "train.py --lr 0.01"
                                         the first event where two runs differ (see 'gradtui diff --help')
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"gradtui: {message} (see 'gradtui --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gradtui",
        usage="gradtui [OPTIONS] SCRIPT [ARGS...]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_argument_group(MODES)
    for option in OPTIONS:
        arguments = option.arguments()
        if option.action == "version":
            arguments["version"] = f"gradtui {__version__}"
        (mode if option.mode else p).add_argument(option.flag, **arguments)
    p.add_argument("script", metavar="SCRIPT", nargs="?", help="the Python script to run")
    p.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER, help="arguments passed to SCRIPT")
    return p


def _fail(message: str) -> int:
    sys.stderr.write(f"gradtui: {message}\n")
    return USAGE_ERROR


def check_writable(path: str) -> str | None:
    """Why ``path`` cannot receive a timeline, or None. Nothing is left behind."""
    if os.path.isdir(path):
        return f"{path}: is a directory; give a file name for the timeline"
    if os.path.exists(path) and not os.path.isfile(path):
        # A device or a pipe (/dev/null, /dev/stdout): written in place, nothing created beside it.
        return None if os.access(path, os.W_OK) else f"{path}: cannot write there"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"{path}: the folder {folder} does not exist"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gradtui-check-"):
            pass
    except OSError as exc:
        return f"{path}: cannot write there ({exc.strerror})"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"{path}: the file is not writable"
    return None


def split_script_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """gradtui's own arguments (up to and including SCRIPT) and the script's, verbatim.

    argparse would swallow a ``--`` that follows SCRIPT; ``python SCRIPT -- x`` passes it on.
    """
    valued = takes_value()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return list(argv[: i + 2]), list(argv[i + 2 :])
        if arg in valued:
            i += 2
            continue
        if not arg.startswith("-") or arg == "-":
            return list(argv[: i + 1]), list(argv[i + 1 :])
        i += 1
    return list(argv), []


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "export" and not os.path.exists("export"):
        from gradtui import export_command

        return export_command.main(argv[1:])
    if argv and argv[0] == "--compare":
        from gradtui import compare_command

        return compare_command.main(argv[1:])
    if argv and argv[0] == "diff" and not os.path.exists("diff"):
        from gradtui import diff_command

        return diff_command.main(argv[1:])
    own, script_args = split_script_args(argv)
    args = build_parser().parse_args(own)
    args.args = script_args
    try:
        args.stops = tuple(parse_stop(text) for text in args.break_on)
    except StopSpecError as exc:
        return _fail(str(exc))
    if args.serve:
        return _serve(args)
    if args.host is not None or args.port is not None:
        return _fail("--host and --port say where --serve listens; give --serve too")
    if args.replay is not None:
        return _replay(args)
    if args.script is None:
        return _fail("no SCRIPT given (see 'gradtui --help')")
    if args.record is not None:
        problem = check_writable(args.record)
        if problem:
            return _fail(problem)
        if args.keep_steps is not None and args.record.lower().endswith(".json"):
            return _fail("--keep-steps needs a recording database: a JSON timeline holds every event; "
                         "give --record OUT.db instead")

    from gradtui.engine.script import ScriptError, load_script

    try:
        script = load_script(args.script)
    except ScriptError as exc:
        return _fail(str(exc))
    if args.record is not None:
        from gradtui.record_guard import record_problem

        problem = record_problem(args.record, script.path, script.python or script.source, force=args.force)
        if problem:
            return _fail(problem)
    elif args.force:
        return _fail("--force only changes what --record may write over; give --record OUT.json too")
    if args.record is not None or not args.trace:
        problem = _cache_problem()  # the run is recorded, perhaps in the recordings folder
        if problem:
            return _fail(problem)

    if args.record is None and not args.trace:
        problem = _theme_problem(args.theme) or _terminal_problem()
        if problem:
            return _fail(problem)
        from gradtui import interactive

        return interactive.run(script, list(args.args), watch=tuple(args.watch), theme=args.theme,
                               max_values=args.max_values, limits=_limits(args), stops=args.stops,
                               keep_steps=args.keep_steps, variables=not args.no_variables)

    from gradtui import headless

    return headless.run(script, list(args.args), record=args.record, trace=args.trace,
                        max_values=args.max_values, watch=tuple(args.watch), limits=_limits(args),
                        stops=args.stops, record_nodes=args.backward_nodes, keep_steps=args.keep_steps,
                        variables=not args.no_variables)


def _limits(args: argparse.Namespace) -> tuple[float | None, float | None]:
    """(above, below) for gradient norms, None where not set; checked here, turned into the engine's type by the
    drivers."""
    return args.grad_norm_above, args.grad_norm_below


def _replay(args: argparse.Namespace) -> int:
    """``--replay``: check everything, open the run (never executing it), open the app.

    A recording is read as the app asks, so a query that meets a damaged page ends the app
    with one line too.
    """
    if args.record is not None or args.trace:
        return _fail("--replay opens a recorded timeline; it cannot be combined with --record or --trace")
    if args.script is not None:
        return _fail(f"--replay runs nothing, so it takes no SCRIPT (got '{args.script}')")
    problem = _theme_problem(args.theme)
    if problem:
        return _fail(problem)
    from gradtui.run_files import RunFileError, open_run

    try:
        timeline = open_run(args.replay)
    except RunFileError as exc:
        return _fail(str(exc))
    problem = _terminal_problem()
    if problem:
        return _fail(problem)
    from gradtui.ui.app import run_app

    failure = run_app(timeline, watch=tuple(args.watch), theme=args.theme, stops=args.stops)
    return 0 if failure is None else _fail(failure)


def _serve(args: argparse.Namespace) -> int:
    """``--serve SCRIPT|RUN``: check what each visitor's session will need, then serve until Ctrl-C.

    The same checks as for a terminal, so that a bad script or run is one line here rather
    than an error page in every visitor's browser.
    """
    if args.record is not None or args.trace or args.replay is not None or args.force:
        return _fail("--serve opens the debugger in each visitor's browser; it cannot be combined with --record, "
                     "--trace or --replay (to serve a recorded run: gradtui --serve RUN)")
    if args.script is None:
        return _fail("--serve needs a SCRIPT to run, or a RUN to replay, for each visitor (see 'gradtui --help')")
    problem = _theme_problem(args.theme)
    if problem:
        return _fail(problem)
    from gradtui import serve

    try:
        target = serve.choose_target(args.script)
    except serve.ServeError as exc:
        return _fail(str(exc))
    if target.is_run:
        if args.args:
            return _fail(f"{args.script} is a recorded run: a replay runs nothing, so it takes no ARGS")
        from gradtui.run_files import RunFileError, open_run

        try:
            open_run(target.path)
        except RunFileError as exc:
            return _fail(str(exc))
    else:
        from gradtui.engine.script import ScriptError, load_script

        try:
            load_script(target.path)
        except ScriptError as exc:
            return _fail(str(exc))
        problem = _cache_problem()
        if problem:
            return _fail(problem)
    host = DEFAULT_HOST if args.host is None else args.host
    port = DEFAULT_PORT if args.port is None else args.port
    problem = serve.missing_server() or serve.address_problem(host, port)
    if problem:
        return _fail(problem)
    command = serve.session_command(target, args, args.args)
    return serve.serve(target, command, host=host, port=port)


def _cache_problem() -> str | None:
    """Why the recordings folder's settings cannot be used (a ``GRADTUI_CACHE_BUDGET`` that is no size)."""
    from gradtui.recordings import CacheConfigError, budget_bytes

    try:
        budget_bytes()
    except CacheConfigError as exc:
        return str(exc)
    return None


def _theme_problem(theme: str) -> str | None:
    from gradtui.ui.themes import theme_names

    names = theme_names()
    if theme not in names:
        return f"unknown theme '{theme}'; choose one of: {', '.join(sorted(names))}"
    return None


def _terminal_problem() -> str | None:
    """Why the app cannot start here: no terminal, unless textual-serve started it (it talks through pipes)."""
    from gradtui.serve import under_web_driver

    if not (sys.stdin.isatty() and sys.stdout.isatty()) and not under_web_driver(os.environ):
        return ("the debugger needs a terminal (stdin and stdout are not one); "
                "use --trace or --record OUT.json to run without a screen")
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
