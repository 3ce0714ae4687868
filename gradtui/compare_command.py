"""``gradtui --compare A B``: the side-by-side debugger over two runs.

The sides are those of ``gradtui diff`` (``gradtui.compare_sides``): recorded runs, or
scripts with their arguments recorded first. Everything is checked before the app opens:
the sides, the theme, the terminal; each problem is one line and exit status 2. Imports
torch nowhere: a script side is recorded in a process of its own.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from gradtui.compare_sides import SideError, open_side
from gradtui.diff_command import add_comparison_options
from gradtui.model.codec import TimelineFormatError
from gradtui.model.tolerance import Tolerance

USAGE_ERROR, INTERRUPTED = 2, 130

DESCRIPTION = """\
Open two runs side by side in the debugger, aligned by optimizer step (by backward call
where there is no optimizer), one cursor moving both: both sources, both runs' parameters,
gradients and optimizer state with their differences, both loss curves (and lrs) on one
plot. D jumps to the first event where the runs differ. A and B are as for 'gradtui diff':
a recorded RUN, or "SCRIPT ARGS..." in quotes (recorded first).

keys: n/N one event on/back (both runs; an event of one run only moves that run),
e/E next/previous event that changes gradients or parameters, right/left next/previous
step, home/end, D first divergence, q quit.
"""

EPILOG = """\
examples:
  gradtui --compare "scenarios/compare_optimizers.py --optimizer sgd" "scenarios/compare_optimizers.py --optimizer adam"
  gradtui --compare before.db after.db
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"gradtui: {message} (see 'gradtui --compare --help')\n")


def build_compare_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gradtui --compare", usage="gradtui --compare A B [--rtol R] [--atol A] [--theme THEME]",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_comparison_options(p)
    p.add_argument("--theme", metavar="THEME", default="textual-dark",
                   help="the debugger's Textual colour theme (default: textual-dark)")
    return p


def main(argv: Sequence[str]) -> int:
    """``argv`` is what follows ``--compare``."""
    from gradtui.cli import _fail, _terminal_problem, _theme_problem

    args = build_compare_parser().parse_args(list(argv))
    problem = _theme_problem(args.theme) or _terminal_problem()
    if problem:
        return _fail(problem)
    tol = Tolerance(args.rtol, args.atol)
    try:
        a = open_side("A", args.a, max_values=args.max_values)
        b = open_side("B", args.b, max_values=args.max_values)
        from gradtui.model.divergence import places_of
        from gradtui.model.run_pairs import RunPair
        from gradtui.ui.compare_app import run_compare

        run_compare(RunPair(a.timeline, b.timeline, places_of(a.timeline, b.timeline)), (a.title(), b.title()), tol,
                    args.theme)
    except SideError as exc:
        return _fail(str(exc))
    except TimelineFormatError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return INTERRUPTED
    return 0
