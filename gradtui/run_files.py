"""Which recorded run the command line names, opened without loading it.

``--replay RUN`` and ``gradtui export RUN`` take the same RUN: a recording (an SQLite
file, recognised by its first bytes), a version-1 JSON timeline, or ``last``, the newest
automatic recording in the cache folder (``gradtui.recordings``) unless a file named
``last`` is in the current folder. A recording is opened lazily: the checks are
constant-time and no event is decoded until it is shown, so a run of any size opens at
once. Every problem is one ``RunFileError`` sentence for the CLI to print after
``gradtui: ``. Imports neither torch nor textual.
"""

from __future__ import annotations

from pathlib import Path

from gradtui.model.codec import TimelineFormatError, load
from gradtui.model.store.reader import Recording, is_recording_file
from gradtui.model.timeline import Timeline
from gradtui.recordings import CacheConfigError, cache_folder, latest_recording

#: The RUN that means the newest automatic recording.
LAST = "last"


class RunFileError(Exception):
    """The run cannot be opened: one sentence saying why (and, where it helps, what to do)."""


def resolve(run: str) -> Path:
    """The file ``run`` names: itself, or for ``last`` the newest automatic recording."""
    if run != LAST or Path(run).exists():
        return Path(run)
    try:
        found = latest_recording()
        folder = cache_folder()
    except CacheConfigError as exc:
        raise RunFileError(str(exc)) from None
    if found is None:
        raise RunFileError(f"no recordings yet in {folder}: the debugger keeps one of each run there "
                           "(GRADTUI_CACHE_DIR names another folder)")
    return found


def open_recording(run: str) -> Recording:
    """The recording ``run`` names; a JSON timeline or any other file is refused."""
    path = resolve(run)
    if path.is_file() and not is_recording_file(path):
        if looks_like_json(path):
            raise RunFileError(f"{path}: a JSON timeline, not a recording; it is in the exported format already")
        raise RunFileError(f"{path}: not a gradtui recording (not an SQLite database)")
    try:
        return Recording(path)
    except TimelineFormatError as exc:
        raise RunFileError(str(exc)) from None


def open_run(run: str) -> Timeline:
    """The run ``run`` names as a ``Timeline``: a recording's read from its file as asked for."""
    path = resolve(run)
    try:
        if is_recording_file(path):
            return Recording(path).timeline()
        return load(path)
    except TimelineFormatError as exc:
        raise RunFileError(str(exc)) from None


def looks_like_json(path: Path) -> bool:
    """Whether the file opens with ``{`` (a JSON timeline, by its first bytes; nothing is parsed)."""
    try:
        with path.open("rb") as fh:
            return fh.read(64).lstrip().startswith(b"{")
    except OSError:
        return False
