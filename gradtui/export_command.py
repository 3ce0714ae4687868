"""``gradtui export RUN -o OUT.json``: a recording written out as a version-1 JSON timeline.

The JSON is what ``--record OUT.json`` writes (docs/timeline-format.md), byte for byte,
streamed event by event so a recording of any size is exported in constant memory. The
file appears whole or not at all (written beside it, then renamed); ``-o -`` writes to
stdout. As ``--record`` does, export never writes over the recording it reads, nor over
a file that is not a gradtui recording or timeline unless ``--force``. Each problem is
one line on stderr and exit status 2. Imports neither torch nor textual.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from gradtui.cli import check_writable
from gradtui.model.codec import TimelineFormatError
from gradtui.model.store.export import export_json, write_json
from gradtui.model.store.reader import Recording
from gradtui.record_guard import is_recording
from gradtui.run_files import LAST, RunFileError, open_recording

USAGE_ERROR = 2
INTERRUPTED = 130

DESCRIPTION = """\
Write a recording out as a version-1 JSON timeline (docs/timeline-format.md): the same
bytes --record OUT.json writes, for tools that read that format.
"""

EPILOG = """\
examples:
  gradtui export last -o run.json
  gradtui export ~/.cache/gradtui/runs/20250101-120000-train-4242.gradtui.db -o run.json
  gradtui export last -o - | python -m json.tool | less
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"gradtui: {message} (see 'gradtui export --help')\n")


def build_export_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gradtui export", usage="gradtui export RUN -o OUT.json [--force]", description=DESCRIPTION,
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN",
                   help=f"a recording (an SQLite file), or '{LAST}' for the newest one the debugger kept")
    p.add_argument("-o", "--output", metavar="OUT.json", required=True,
                   help="where to write the JSON timeline ('-' for stdout)")
    p.add_argument("--force", action="store_true",
                   help="write over an existing file that is not a gradtui recording or timeline")
    return p


def _fail(message: str) -> int:
    sys.stderr.write(f"gradtui: {message}\n")
    return USAGE_ERROR


def main(argv: Sequence[str]) -> int:
    """``argv`` is what follows ``export``."""
    args = build_export_parser().parse_args(list(argv))
    try:
        recording = open_recording(args.run)
    except RunFileError as exc:
        return _fail(str(exc))
    out: str = args.output
    try:
        if out == "-":
            return _to_stdout(recording)
        problem = _output_problem(out, str(recording.path), force=args.force)
        if problem:
            return _fail(problem)
        try:
            export_json(recording, out)
        except KeyboardInterrupt:
            sys.stderr.write(f"gradtui: the export was interrupted; {out} is as it was\n")
            return INTERRUPTED
        except TimelineFormatError as exc:
            return _fail(f"{exc}; {out} is as it was")
        except OSError as exc:
            return _fail(f"{out}: cannot write the timeline ({exc.strerror or exc})")
        return 0
    finally:
        recording.close()


def _to_stdout(recording: Recording) -> int:
    try:
        write_json(recording.timeline(), sys.stdout)
        sys.stdout.flush()
    except TimelineFormatError as exc:
        sys.stdout.flush()
        return _fail(str(exc))
    except BrokenPipeError:
        # The reader went away (``| head``): not an error of ours; keep Python's exit quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return INTERRUPTED
    return 0


def _output_problem(out: str, source: str, *, force: bool) -> str | None:
    """Why the timeline must not be written to ``out``, or None."""
    if _same(out, source) or any(_same(out, f"{source}{suffix}") for suffix in ("-wal", "-shm")):
        return f"-o {out} would overwrite the recording being exported; give the JSON another name"
    problem = check_writable(out)
    if problem:
        return problem
    if os.path.isfile(out) and os.path.getsize(out) > 0 and not force and not is_recording(out):
        return (f"-o {out} would overwrite a file that is not a gradtui recording or timeline; "
                "choose another name, or add --force to replace it")
    return None


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
