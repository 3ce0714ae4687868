"""The debugger's keys, once: the app's bindings, the help screen, ``--help`` and README come from here.

Before this table the keys were described in four places that drifted apart. Each row is
one binding of the app, or a key that a panel or Textual handles itself (Tab, ``/`` in
the graph, ctrl+p), which the help lists too. Plain data: it must not import Textual, so
that ``gradtui --help`` can list the keys without loading it (the app turns the rows into
``Binding`` objects itself).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from gradtui.model.stops import gist


@dataclass(frozen=True, slots=True)
class Key:
    #: How the help, ``--help`` and README write the key(s): ``? / F1``.
    shown: str
    #: What the help screen says it does. Rows in a row with the same sentence are one line
    #: of help (``S  N  E``).
    help: str
    #: The key(s) as Textual names them (``question_mark,f1``); "" for a key the app does not bind.
    keys: str = ""
    #: The app's action (``forward('op')``); "" for a key the app does not bind.
    action: str = ""
    #: The footer's description of the binding.
    label: str = ""
    #: Whether the footer shows it.
    footer: bool = False
    #: What the footer writes for the key, when not the key itself (``S/N/E/C``).
    key_display: str | None = None
    #: The few words ``gradtui --help`` gives it ("" leaves it out; a help line's first row speaks for it).
    brief: str = ""

    @property
    def app_binding(self) -> bool:
        return bool(self.action)


KEYS: tuple[Key, ...] = (
    Key("s", "step one operation (any event); on a backward, step into it node by node",
        "s", "forward('op')", "step", footer=True, brief="step"),
    Key("n", "next line", "n", "forward('line')", "line", footer=True, brief="next line"),
    Key("e", "next event that changes gradients, parameters or the lr: backward, zero_grad, step, update, clip, "
        "schedule, autograd.grad, a hook, unscale (steps over a backward pass)",
        "e", "forward('event')", "event", footer=True, brief="next event that changes grads, params or lr"),
    Key("c", "continue to the next breakpoint or the end", "c", "forward('continue')", "continue", footer=True,
        brief="continue"),
    Key("S", "the same, backwards in time", "S", "rewind('op')", "back", footer=True, key_display="S/N/E/C",
        brief="back"),
    Key("N", "the same, backwards in time", "N", "rewind('line')", "line back"),
    Key("E", "the same, backwards in time", "E", "rewind('event')", "event back"),
    Key("C", "back to the start", "C", "rewind('start')", "to start", brief="back to the start"),
    Key("]", "on to the next cell of a notebook or a # %% script / back to the previous one",
        "right_square_bracket", "cell(1)", "next cell", brief="next/previous cell"),
    Key("[", "on to the next cell of a notebook or a # %% script / back to the previous one",
        "left_square_bracket", "cell(-1)", "previous cell"),
    Key("b", "toggle a breakpoint on the current line", "b", "toggle_breakpoint", "break", footer=True,
        brief="breakpoint"),
    Key("L", "plot on a log / linear scale (chosen by itself until pressed: log once values span 100×)",
        "L", "toggle_plot_scale", "log/linear plot", brief="log/linear plot"),
    Key("r", "plot the learning rate of each scheduler.step() instead of the loss, and back",
        "r", "toggle_plot_lr", "lr plot", brief="lr plot"),
    Key("v", "the variables of the paused frame: tensors (Enter opens one in full), modules, optimizers, numbers",
        "v", "show_variables", "variables", footer=True, brief="variables"),
    Key("u", "up to the calling frame / back down (the variables panel and : follow)", "u", "frame(1)",
        "frame up", brief="frame up/down"),
    Key("d", "up to the calling frame / back down (the variables panel and : follow)", "d", "frame(-1)",
        "frame down"),
    Key(":", "evaluate an expression in the paused frame (!stmt runs a statement that changes the script's state)",
        "colon", "evaluate", "evaluate", footer=True, brief="evaluate"),
    Key("w", "watch an expression: asked again at every pause (an empty one clears the watches)",
        "w", "watch", "watch", brief="watch"),
    Key("ctrl+p", f"breakpoints on events: {gist()}", brief="breakpoints on events"),
    Key("? / F1", "this help", "question_mark,f1", "help", "help", footer=True, key_display="?", brief="help"),
    Key("q / ctrl+q", "quit", "q,ctrl+q", "quit", "quit", footer=True, key_display="q", brief="quit"),
    Key("Tab / arrows / mouse", "move between panels, scroll, open graph nodes (Enter / Space)"),
    Key("Enter", "on a tensor (variables panel), or in the gradients or parameters panel: open it in full, with "
        "every value, a histogram and its history", brief="open a tensor"),
    Key("/", "find in the graph: a node, leaf or module name; Enter the next match, Escape ends",
        "slash", "find_in_graph", "find", brief="find in the graph"),
    Key("+  -", "in the graph: open everything / back to the module outline",
        brief="open/close the graph's modules"),
)


def help_lines() -> list[tuple[str, str]]:
    """(keys, sentence) per line of the help: neighbouring rows with one sentence share a line."""
    lines: list[tuple[str, str]] = []
    for key in KEYS:
        if lines and lines[-1][1] == key.help:
            lines[-1] = (f"{lines[-1][0]}  {key.shown}", key.help)
        else:
            lines.append((key.shown, key.help))
    return lines


def cli_summary(width: int = 86) -> str:
    """The paragraph of keys in ``gradtui --help``."""
    parts: list[str] = []
    for shown, sentence in help_lines():
        first = next(k for k in KEYS if k.help == sentence)
        if first.brief:
            parts.append(f"{shown.replace('  ', ' ').split(' / ')[0]} {first.brief}")
    return textwrap.fill("keys in the debugger: " + ", ".join(parts) + ".", width=width)
