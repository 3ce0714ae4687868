"""Where the debugger keeps its automatic recordings, and how old ones are pruned.

Every live session writes its run to a recording (so the app's memory stays bounded and a
crash loses nothing), by default in the user's cache folder as each platform spells it:
``$XDG_CACHE_HOME/gradtui/runs`` (``~/.cache/gradtui/runs``) on Linux,
``~/Library/Caches/gradtui/runs`` on macOS, ``%LOCALAPPDATA%\\gradtui\\Cache\\runs`` on
Windows; ``GRADTUI_CACHE_DIR`` overrides it. Before a new one is started, the oldest are
removed until the folder fits ``GRADTUI_CACHE_BUDGET`` (default 2 GiB; ``500M``, ``10G``
and plain bytes are accepted). ``gradtui --replay last`` opens the newest. No torch,
no textual.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

SUFFIX = ".gradtui.db"
DEFAULT_BUDGET = 2 * 1024**3
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class CacheConfigError(ValueError):
    """``GRADTUI_CACHE_BUDGET`` cannot be read: one sentence saying what to write instead."""


def cache_folder() -> Path:
    """The folder automatic recordings go to (not created here)."""
    override = os.environ.get("GRADTUI_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
        return base / "gradtui" / "runs"
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "gradtui" / "Cache" / "runs"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gradtui" / "runs"


def budget_bytes() -> int:
    """The size the folder is pruned to, from ``GRADTUI_CACHE_BUDGET``."""
    text = os.environ.get("GRADTUI_CACHE_BUDGET", "").strip()
    if not text:
        return DEFAULT_BUDGET
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if m is None:
        raise CacheConfigError(f"GRADTUI_CACHE_BUDGET={text!r} is not a size; write it like 500M, 2G or 1000000")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def recordings() -> list[Path]:
    """The automatic recordings, oldest first."""
    folder = cache_folder()
    try:
        found = [p for p in folder.iterdir() if p.name.endswith(SUFFIX) and p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def latest_recording() -> Path | None:
    found = recordings()
    return found[-1] if found else None


def _size(p: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += Path(f"{p}{suffix}").stat().st_size
        except OSError:
            pass
    return total


def prune(budget: int, keep: frozenset[Path] = frozenset()) -> list[Path]:
    """Remove the oldest recordings until the folder holds at most ``budget`` bytes; the removed ones."""
    found = recordings()
    total = sum(_size(p) for p in found)
    removed = []
    for p in found:
        if total <= budget:
            break
        if p in keep:
            continue
        total -= _size(p)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{p}{suffix}").unlink(missing_ok=True)
        removed.append(p)
    return removed


def new_recording_path(script: str) -> Path:
    """A fresh path for a run of ``script`` in the cache folder, made room for by pruning."""
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    prune(budget_bytes())
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(script).stem) or "run"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{stem}-{os.getpid()}{SUFFIX}"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stamp}-{stem}-{os.getpid()}-{n}{SUFFIX}"
    return path
