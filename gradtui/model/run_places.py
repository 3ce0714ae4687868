"""Which line of one run's source is which line of the other's: the ground two runs are matched on.

Two runs of one script share every line number, but a refactor or an added ``print`` moves
them. The texts both recordings kept are put side by side with ``difflib`` (per file: the
main scripts with each other, other files by name), and every line gets a *place*:

- a line in a stretch both texts share is at the place of its line in run A;
- a line of a stretch rewritten line for line (``lr = 0.1`` → ``lr = 0.01``) likewise;
- the lines of a stretch rewritten into a different number of lines share one place, so
  their events are compared in order without asking which line is which;
- a line only one run has (an added ``print``) has no place (None): the comparison skips
  its lines, ops and output, and counts only the events that change gradients or
  parameters there as a difference.

A file only one run recorded has no places at all; without recorded sources (an old
timeline) every line is its own place. Must not import torch.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

#: Where an event happened, comparable across the two runs: (file, 0, line of run A) for a
#: line both have, (file, 1, first line of run A's stretch) for a rewritten stretch.
Place = tuple[str, int, int]

_MAIN = "<main>"


@dataclass(frozen=True, slots=True)
class _FileMap:
    key: str
    #: Run A's line → place; run B's line → place. Lines missing from a map have no place.
    a: Mapping[int, Place]
    b: Mapping[int, Place]


class PlaceMap:
    """The places of both runs' lines, built once from the sources the recordings kept."""

    def __init__(self, main_a: str, sources_a: Mapping[str, str], main_b: str, sources_b: Mapping[str, str]) -> None:
        self._main = (main_a, main_b)
        self._files_a: dict[str, _FileMap | None] = {}
        self._files_b: dict[str, _FileMap | None] = {}
        self._sources = (sources_a, sources_b)
        pairs: list[tuple[str, str, str]] = []
        if main_a in sources_a and main_b in sources_b:
            pairs.append((_MAIN, main_a, main_b))
        for name in sources_a:
            if name != main_a and name in sources_b and name != main_b:
                pairs.append((name, name, name))
        for key, fa, fb in pairs:
            fmap = _map_file(key, sources_a[fa], sources_b[fb])
            self._files_a[fa] = fmap
            self._files_b[fb] = fmap
        self.unmatched_files = sorted((set(sources_a) - set(self._files_a)) | (set(sources_b) - set(self._files_b)))

    def place(self, side: int, file: str, line: int) -> Place | None:
        """The place of ``line`` of ``file`` in run A (``side`` 0) or B (1); None: that run's own line."""
        files = self._files_a if side == 0 else self._files_b
        fmap = files.get(file)
        if fmap is None:
            if file in files or file in self._sources[side]:
                return None  # a file only this run recorded
            # No recorded source for it (a library frame, an old timeline): the line as it is.
            key = _MAIN if file == self._main[side] else file
            return (key, 0, line)
        return (fmap.a if side == 0 else fmap.b).get(line)


def _map_file(key: str, text_a: str, text_b: str) -> _FileMap:
    lines_a, lines_b = text_a.splitlines(), text_b.splitlines()
    a: dict[int, Place] = {}
    b: dict[int, Place] = {}
    matcher = difflib.SequenceMatcher(None, lines_a, lines_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for k in range(i2 - i1):
                place = (key, 0, i1 + k + 1)
                a[i1 + k + 1] = place
                b[j1 + k + 1] = place
        elif tag == "replace":
            place = (key, 1, i1 + 1)
            for i in range(i1, i2):
                a[i + 1] = place
            for j in range(j1, j2):
                b[j + 1] = place
        # "insert" / "delete": lines of one run only, no place.
    return _FileMap(key, a, b)
