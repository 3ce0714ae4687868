"""gradtui's command-line options, once: the parser, the splitting of ARGS and README come from here.

One row per option, in the order ``gradtui --help`` lists them. ``cli.build_parser`` turns
the rows into argparse arguments, ``cli.split_script_args`` asks which options take a
value, and tests/test_vocabulary.py holds README's options table to the rows. Must not
import torch or textual: ``gradtui --help`` reads it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradtui.model.stops import spellings

#: Where ``--serve`` listens unless told: localhost only, since a served script runs with the
#: serving user's rights for every visitor; and textual-serve's own default port.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

#: The title of the options that choose what gradtui does.
MODES = "what to do (default: open the debugger)"


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more")
    return value


def positive_int(text: str) -> int:
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 1 or more")
    return value


def port_number(text: str) -> int:
    value = non_negative(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port: give a number from 1 to 65535")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' must be a positive number")
    return value


@dataclass(frozen=True, slots=True)
class Option:
    flag: str
    help: str
    #: The value's name in the help; an option with one takes a value.
    metavar: str | None = None
    action: str = "store"
    type: Callable[[str], Any] | None = None
    default: Any = None
    #: One of the options that choose what gradtui does (listed under ``MODES``).
    mode: bool = False

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``add_argument`` for this option."""
        out: dict[str, Any] = {"action": self.action, "help": self.help}
        if self.metavar is not None:
            out["metavar"] = self.metavar
        if self.type is not None:
            out["type"] = self.type
        if self.action in ("store", "append"):
            out["default"] = [] if self.action == "append" else self.default
        return out


OPTIONS: tuple[Option, ...] = (
    Option("--record", "run SCRIPT to the end without a screen, recording as it goes: OUT.db (any name not ending "
                       "in .json) is the recording itself, OUT.json gets a JSON timeline at the end",
           metavar="OUT", mode=True),
    Option("--force", "with --record: write over an existing file that is not a gradtui recording "
                      "(never over SCRIPT or a file it imports)", action="store_true", mode=True),
    Option("--trace", "run SCRIPT to the end, printing one line per event as it happens",
           action="store_true", mode=True),
    Option("--replay", "open the debugger on a recording, a JSON timeline, or 'last' (the newest recording); "
                       "runs nothing (no SCRIPT, no torch needed)", metavar="RUN", mode=True),
    Option("--serve", "serve the debugger to web browsers instead of a terminal: each visitor gets a session of "
                      "SCRIPT of their own (or a replay, given a RUN instead of SCRIPT) until Ctrl-C stops "
                      "serving (exit status 130)", action="store_true", mode=True),
    Option("--port", f"with --serve: the port to listen on (default: {DEFAULT_PORT})", metavar="N",
           type=port_number, mode=True),
    Option("--host", f"with --serve: the address to listen on (default: {DEFAULT_HOST}, this machine only); "
                     "0.0.0.0 opens it to the network, e.g. a classroom: WARNING, every visitor then runs "
                     "SCRIPT on this machine with your user's rights (files, network, anything the script does)",
           metavar="H", mode=True),
    Option("--watch", "follow the variable NAME (a number or one-element tensor) and plot it; repeatable",
           metavar="NAME", action="append"),
    Option("--no-variables", "do not record the script's variables at each line (the debugger then shows none); "
                             "recording them costs a training loop up to about a fifth more time",
           action="store_true"),
    Option("--backward-nodes", "with --record/--trace: also record each backward pass node by node, so a --replay "
                               "can step into it (the debugger always does; it costs time on long training loops)",
           action="store_true"),
    Option("--break-on", f"stop at an event of KIND: {spellings()} (repeatable); headless runs then exit with "
                         "status 3 and the reason", metavar="KIND", action="append"),
    Option("--grad-norm-above", "also note a gradient whose norm exceeds X (default: off; exploded gradients are "
                                "noted anyway, judged against each parameter's own earlier norms)",
           metavar="X", type=positive_float),
    Option("--grad-norm-below", "also note a non-zero gradient whose norm is under X (default: off; vanished "
                                "gradients are noted anyway, judged against the other gradients of the same "
                                "backward)", metavar="X", type=positive_float),
    Option("--keep-steps", "keep every line, op and tensor of only the last N optimizer steps (and of the steps "
                           "around each note, error or pause); older steps keep a summary row each (loss, learning "
                           "rates, norms), so a long run stays small (default: keep everything; needs a recording "
                           "database, not --record OUT.json)", metavar="N", type=positive_int),
    Option("--theme", "the debugger's Textual colour theme (default: textual-dark)", metavar="THEME",
           default="textual-dark"),
    Option("--max-values", "keep the values of tensors with up to N elements; larger ones keep "
                           "shape and statistics (default: 64)", metavar="N", type=non_negative, default=64),
    Option("--version", "show program's version number and exit", action="version"),  # argparse's words
)


def takes_value() -> set[str]:
    """The options followed by a value, which ``split_script_args`` must not take for SCRIPT."""
    return {option.flag for option in OPTIONS if option.metavar is not None}
