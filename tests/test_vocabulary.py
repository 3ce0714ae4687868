"""The vocabularies (keys, ``--break-on`` kinds, options) have one table each; README follows them.

README is written by hand, so it is checked against the tables: every key, kind and option
of gradtui is in README's tables, and README's tables hold nothing gradtui does not have.
The options are read from the parser argparse builds, not from the table it is built from.
"""

from __future__ import annotations

import re

import pytest

from gradtui.cli import build_parser
from gradtui.model.stops import STOP_KINDS, EventStop, parse_stop
from gradtui.ui.app import GradtuiApp
from gradtui.ui.keys import KEYS, help_lines
from gradtui.ui.stop_commands import ENTRIES
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def readme_table(header: str) -> list[list[str]]:
    """The cells of README's table whose header row starts with ``| header |``."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _spaced(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def test_readme_lists_every_key_of_the_help_and_no_other() -> None:
    readme = [_spaced(row[0]) for row in readme_table("key")]
    assert readme == [_spaced(keys) for keys, _ in help_lines()]


def test_readme_lists_every_break_on_kind_and_no_other() -> None:
    readme = [row[0].strip("`") for row in readme_table("KIND")]
    assert readme == [kind.spelling for kind in STOP_KINDS]


def test_readme_lists_every_option_of_the_parser_and_no_other() -> None:
    parser = build_parser()
    options = {f"{flag} {action.metavar}" if action.metavar else flag
               for action in parser._actions for flag in action.option_strings}
    readme = {spelling.strip() for row in readme_table("option")
              for spelling in re.findall(r"`([^`]+)`", row[0])}
    assert readme == options


@pytest.mark.parametrize("kind", STOP_KINDS, ids=lambda k: k.spelling)
def test_each_break_on_spelling_parses_to_its_palette_entry(kind) -> None:  # type: ignore[no-untyped-def]
    spec = kind.spelling.replace("X", "1e3")
    stop = parse_stop(spec)
    assert stop.kind == kind.kind
    assert [words for entry, words in ENTRIES if entry == stop] != [], f"no palette entry for --break-on {spec}"


def test_the_palette_says_what_the_threshold_is() -> None:
    assert (EventStop("grad-norm", 1000.0), "a gradient whose norm exceeds 1000") in ENTRIES


def test_the_unknown_kind_message_names_every_spelling() -> None:
    with pytest.raises(ValueError, match="use one of: backward, zero_grad, step, update, nan, grad-norm>X, note$"):
        parse_stop("sometimes")


def test_every_bound_action_is_an_action_of_the_app() -> None:
    for key in KEYS:
        if key.app_binding:
            name = key.action.split("(")[0]
            assert callable(getattr(GradtuiApp, f"action_{name}", None)), key


def test_the_app_binds_the_keys_it_always_did() -> None:
    """The footer and every key press depend on these: key, action, label, shown, as displayed."""
    bound = {(b.key, b.action, b.description, b.show, b.key_display) for b in GradtuiApp.BINDINGS}
    assert bound == {
        ("s", "forward('op')", "step", True, None),
        ("n", "forward('line')", "line", True, None),
        ("e", "forward('event')", "event", True, None),
        ("c", "forward('continue')", "continue", True, None),
        ("S", "rewind('op')", "back", True, "S/N/E/C"),
        ("N", "rewind('line')", "line back", False, None),
        ("E", "rewind('event')", "event back", False, None),
        ("C", "rewind('start')", "to start", False, None),
        ("right_square_bracket", "cell(1)", "next cell", False, None),
        ("left_square_bracket", "cell(-1)", "previous cell", False, None),
        ("b", "toggle_breakpoint", "break", True, None),
        ("r", "toggle_plot_lr", "lr plot", False, None),
        ("L", "toggle_plot_scale", "log/linear plot", False, None),
        ("slash", "find_in_graph", "find", False, None),
        ("v", "show_variables", "variables", True, None),
        ("u", "frame(1)", "frame up", False, None),
        ("d", "frame(-1)", "frame down", False, None),
        ("colon", "evaluate", "evaluate", True, None),
        ("w", "watch", "watch", False, None),
        ("question_mark,f1", "help", "help", True, "?"),
        ("q,ctrl+q", "quit", "quit", True, "q"),
    }


def test_the_help_names_every_kind_of_event_breakpoint() -> None:
    line = dict(help_lines())["ctrl+p"]
    for word in ("backward", "zero_grad", "step", "update", "NaN", "gradient", "note"):
        assert word in line, line


def test_gradtui_help_names_every_key_the_app_binds() -> None:
    epilog = build_parser().format_help().split("keys in the debugger:")[1].split("examples:")[0]
    said = set(epilog.split())
    for key in KEYS:
        if key.app_binding:
            assert key.shown.split(" / ")[0] in said, key.shown
