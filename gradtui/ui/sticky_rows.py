"""A height for text that changes with every key: grows at once, shrinks only after a while.

The status line and the scrolling panels show a text per event whose number of rows
differs between neighbouring events (a step's sentence wraps, a backward's does not; a
step's parameters show before and after). Following each text's height exactly moved the
panels up and down on every key, and each change laid the whole screen out again (twice:
once for the new text, once for the sizes that moved), which was most of a key's time on
a long run. So a height grows at once to fit, and gives rows back only once
``KEEP_ROWS_FOR`` texts in a row needed fewer.
"""

from __future__ import annotations

from collections import deque

#: Texts in a row that must need fewer rows before a height gives rows back.
KEEP_ROWS_FOR = 8


class StickyRows:
    """A height that grows at once and shrinks only after ``keep`` fits in a row needed less."""

    def __init__(self, keep: int = KEEP_ROWS_FOR) -> None:
        #: The rows the latest texts needed, newest last.
        self._recent: deque[int] = deque(maxlen=keep)

    def fit(self, rows: int) -> int:
        """The height to give a text of ``rows`` rows."""
        self._recent.append(rows)
        return max(self._recent)
