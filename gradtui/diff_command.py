"""``gradtui diff A B``: do two runs agree? The first divergence and a short summary, for a person or a CI job.

Each of A and B is a recorded run or a script with its arguments (``gradtui.compare_sides``).
The exit status is the answer: 0 when the runs agree within the tolerance, 1 when they
diverge, 2 for bad input (one line on stderr), 130 when interrupted. The report goes to
stdout. Imports neither torch nor textual (a script side runs in a process of its own).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from gradtui.cli_options import non_negative
from gradtui.compare_sides import Side, SideError, open_side
from gradtui.model.codec import TimelineFormatError
from gradtui.model.divergence import Divergence, first_divergence, places_of
from gradtui.model.formatting import format_number
from gradtui.model.run_pairs import RunPair, param_gaps, per_anchor
from gradtui.model.tolerance import DEFAULT_ATOL, DEFAULT_RTOL, Tolerance

AGREE, DIVERGE, USAGE_ERROR, INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = f"""\
Compare two runs event by event and print the first event where they differ (in control
flow, in the events' kind or order, or in a recorded value beyond the tolerance), then the
steps compared, each parameter's largest difference and the final losses.

A and B are each a recorded run (a recording, a JSON timeline, or 'last') or a script with
its arguments as one quoted argument ("train.py --lr 0.1"), which is recorded first into
the recordings folder. Values agree when |a - b| <= atol + rtol * max(|a|, |b|) (NaN
agrees with NaN): torch.allclose's rule, made symmetric, with its defaults
(rtol {DEFAULT_RTOL:g}, atol {DEFAULT_ATOL:g}).

exit status: 0 the runs agree, 1 they diverge, 2 bad input, 130 interrupted.
"""

EPILOG = """\
examples:
  gradtui diff "scenarios/compare_optimizers.py --optimizer sgd" "scenarios/compare_optimizers.py --lr 0.1"
  gradtui diff before.db after.db --rtol 1e-4       guard a refactor's numerics in CI
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"gradtui: {message} (see 'gradtui diff --help')\n")


def tolerance_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or a positive number")
    return value


def build_diff_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gradtui diff", usage="gradtui diff A B [--rtol R] [--atol A] [--max-values N]",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_comparison_options(p)
    return p


def add_comparison_options(p: argparse.ArgumentParser) -> None:
    """A, B and the tolerance: the same for ``gradtui diff`` and ``gradtui --compare``."""
    p.add_argument("a", metavar="A", help="run A: a recorded RUN, or \"SCRIPT ARGS...\" in quotes")
    p.add_argument("b", metavar="B", help="run B, the same way")
    p.add_argument("--rtol", type=tolerance_value, default=DEFAULT_RTOL, metavar="R",
                   help=f"relative tolerance (default: {DEFAULT_RTOL:g})")
    p.add_argument("--atol", type=tolerance_value, default=DEFAULT_ATOL, metavar="A",
                   help=f"absolute tolerance (default: {DEFAULT_ATOL:g})")
    p.add_argument("--max-values", type=non_negative, default=64, metavar="N",
                   help="for a script side: keep the values of tensors with up to N elements, larger ones "
                        "statistics (default: 64); compared value by value only where both runs kept values")


def main(argv: Sequence[str]) -> int:
    """``argv`` is what follows ``diff``."""
    args = build_diff_parser().parse_args(list(argv))
    tol = Tolerance(args.rtol, args.atol)
    try:
        a = open_side("A", args.a, max_values=args.max_values)
        b = open_side("B", args.b, max_values=args.max_values)
        report, diverged = _report(a, b, tol)
        sys.stdout.write(report)
    except SideError as exc:
        sys.stderr.write(f"gradtui: {exc}\n")
        return USAGE_ERROR
    except TimelineFormatError as exc:
        sys.stderr.write(f"gradtui: {exc}\n")
        return USAGE_ERROR
    except KeyboardInterrupt:
        return INTERRUPTED
    return DIVERGE if diverged else AGREE


def _report(a: Side, b: Side, tol: Tolerance) -> tuple[str, bool]:
    walk = first_divergence(a.timeline, b.timeline, tol)
    pair = RunPair(a.timeline, b.timeline, places_of(a.timeline, b.timeline))
    lines = [f"run A: {a.title()}  ({a.path})", f"run B: {b.title()}  ({b.path})"]
    unit = pair.unit_name
    na, nb = (len(x) for x in pair.anchors)
    counted = f"{na} {unit}s" if na == nb else f"{na} vs {nb} {unit}s"
    upto = " before the divergence" if walk.divergence is not None else ""
    lines.append(f"{walk.compared} events matched{upto}; {counted}; {tol.text()}")
    if walk.divergence is None:
        lines.append("the runs agree" + (f" ({walk.stopped})" if walk.stopped else ""))
    else:
        lines.append(f"first divergence: {walk.divergence.text}")
        lines.extend(_where(walk.divergence, a, b))
    gaps = param_gaps(pair, tol)
    if gaps:
        lines.append(f"largest difference per parameter over {min(na, nb)} aligned {unit}s:")
        width = max(len(g.name) for g in gaps)
        for g in gaps:
            said = "agree" if g.size == 0 else f"{g.text} (after {unit} {g.step})"
            lines.append(f"  {g.name:<{width}}  {said}")
    losses = [per_anchor(events, anchors)[0] for events, anchors in zip(pair.events, pair.anchors)]
    finals = [next((x for x in reversed(series) if x is not None), None) for series in losses]
    if any(x is not None for x in finals):
        lines.append("final loss: " + "  ".join(f"{label} {format_number(x) if x is not None else 'none'}"
                                                for label, x in zip("AB", finals)))
    lines.append(f"ended: A {_ending(a)}, B {_ending(b)}")
    return "\n".join(lines) + "\n", walk.divergence is not None


def _where(d: Divergence, a: Side, b: Side) -> list[str]:
    out = []
    for label, seq, side in (("A", d.a, a), ("B", d.b, b)):
        if seq is None:
            continue
        event = side.timeline.events[seq]
        text = side.timeline.sources.get(event.file, "").splitlines()
        code = text[event.line - 1].strip() if 0 < event.line <= len(text) else ""
        out.append(f"  run {label}: event {seq}, line {event.line}" + (f": {code}" if code else ""))
    return out


def _ending(side: Side) -> str:
    t = side.timeline
    if t.error is not None:
        return f"{t.status} ({t.error.type}: {t.error.message})"
    return t.status if t.exit_code in (None, 0) else f"{t.status} (exit code {t.exit_code})"
