"""The colour themes the app accepts: Textual's built-in ones, checked before the app starts."""

from __future__ import annotations

from textual.theme import BUILTIN_THEMES


def theme_names() -> set[str]:
    return set(BUILTIN_THEMES)
