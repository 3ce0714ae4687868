"""The two sides of a comparison: each a recorded run, or a script (with its arguments) recorded first.

A side is one command-line argument. A file that is a recording or a JSON timeline (or
``last``) is opened as it is, without torch. Anything else is split as a shell would
(``"train.py --lr 0.1"``) into a script and its arguments, and the script is recorded
first into the recordings folder (``gradtui --replay`` opens it afterwards), each side in
a process of its own so that nothing of one run (patches, seeds, torch's state) reaches
the other. The scripts' output goes to a log beside the recording, not to the terminal.
Must not import torch: a comparison of two recordings runs where torch is not installed.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gradtui.model.store.reader import is_recording_file
from gradtui.model.timeline import Timeline
from gradtui.run_files import LAST, RunFileError, looks_like_json, open_run


class SideError(Exception):
    """A side cannot be compared: one sentence saying why and what to do."""


@dataclass(frozen=True, slots=True)
class Side:
    #: "A" or "B".
    label: str
    #: What the user gave, as they gave it.
    given: str
    #: The recording or timeline the side was read from.
    path: Path
    timeline: Timeline
    #: The script's command when the side was recorded here (None: a recorded run given).
    command: tuple[str, ...] | None = None

    def title(self) -> str:
        """``compare_optimizers.py --optimizer sgd``: the side as the screen names it."""
        if self.command:
            return " ".join([Path(self.command[0]).name, *self.command[1:]])
        argv = [Path(self.timeline.script).name, *self.timeline.argv[1:]] if self.timeline.script else []
        return " ".join(argv) or self.path.name


def is_run(given: str) -> bool:
    path = Path(given)
    return (given == LAST and not path.exists()) or (path.is_file() and (is_recording_file(path)
                                                                         or looks_like_json(path)))


def split(given: str) -> list[str]:
    """A script side's words: the argument as it is when it names a file, else split as a shell would."""
    if Path(given).is_file():
        return [given]
    try:
        words = shlex.split(given)
    except ValueError as exc:
        raise SideError(f"cannot read '{given}' as a script and its arguments ({exc})") from None
    if not words:
        raise SideError("an empty side: give a recorded RUN, or a SCRIPT with its arguments in quotes")
    return words


def open_side(label: str, given: str, *, max_values: int, quiet: bool = False) -> Side:
    """Side ``label`` as ``given``: opened when it is a run, recorded first when it is a script."""
    if is_run(given):
        try:
            timeline = open_run(given)
        except RunFileError as exc:
            raise SideError(f"run {label}: {exc}") from None
        return Side(label, given, Path(given), timeline)
    words = split(given)
    script = Path(words[0])
    if not script.is_file():
        raise SideError(f"run {label}: {words[0]}: no such file; give a recorded RUN (a recording, a JSON "
                        "timeline or 'last') or a SCRIPT, with its arguments in quotes: \"train.py --lr 0.1\"")
    return _record(label, given, words, max_values=max_values, quiet=quiet)


def _record(label: str, given: str, words: list[str], *, max_values: int, quiet: bool) -> Side:
    from gradtui.recordings import CacheConfigError, new_recording_path

    try:
        path = new_recording_path(words[0])
    except (CacheConfigError, OSError) as exc:
        raise SideError(f"run {label}: cannot keep its recording ({exc})") from None
    log = path.with_suffix(".log")
    if not quiet:
        sys.stderr.write(f"gradtui: recording run {label}: {' '.join(words)}\n")
    command = [sys.executable, "-m", "gradtui", "--record", str(path), "--max-values", str(max_values), *words]
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, text=True)
        out.write(done.stderr)
    if done.returncode == 2 or not path.exists():
        last = [line for line in done.stderr.splitlines() if line.strip()]
        reason = last[-1].removeprefix("gradtui: ") if last else f"exit status {done.returncode}"
        raise SideError(f"run {label} could not be recorded: {reason}")
    try:
        timeline = open_run(str(path))
    except RunFileError as exc:
        raise SideError(f"run {label}: {exc}") from None
    return Side(label, given, path, timeline, tuple(words))
