"""Small readers of timelines for the tests: events by kind, values as flat lists; and the
script run plainly, what the recorded values are compared with."""

from __future__ import annotations

import contextlib
import functools
import io
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gradtui.model.events import Event
from gradtui.model.tensors import TensorSummary
from gradtui.model.timeline import Timeline


def of_kind(tl: Timeline, kind: str) -> list[Any]:
    return [e for e in tl.events if e.kind == kind]


def flat(t: TensorSummary | None) -> list[Any] | None:
    """Row-major values of a summary, ``None`` for a ``None`` tensor."""
    if t is None:
        return None
    values = t.flat_values()
    assert values is not None, f"values were not kept for {t!r}"
    return values


def stdout(tl: Timeline) -> str:
    return "".join(e.text for e in of_kind(tl, "output") if e.stream == "stdout")


def stderr(tl: Timeline) -> str:
    return "".join(e.text for e in of_kind(tl, "output") if e.stream == "stderr")


def grad_changes(tl: Timeline, kind: str, name: str) -> list[tuple[Any, Any]]:
    """(before, after) of ``name`` in every ``kind`` event that touched it, as flat values."""
    out = []
    for e in of_kind(tl, kind):
        changes: dict[str, Any] = e.grads if kind != "step" else e.params
        if name in changes:
            out.append((flat(changes[name].before), flat(changes[name].after)))
    return out


def seqs_ok(tl: Timeline) -> bool:
    return all(e.seq == i for i, e in enumerate(tl.events))


__all__ = ["Event", "flat", "grad_changes", "of_kind", "seqs_ok", "stderr", "stdout"]


@functools.cache
def plain_python(script: Path) -> subprocess.CompletedProcess[str]:
    """``python SCRIPT`` in a process of its own, from the script's folder (once per script and session)."""
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=script.parent)


def python_stdout(script: Path) -> str:
    """What ``script`` prints run plainly in this process (quicker than a new interpreter)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(script), run_name="__main__")
    return out.getvalue()


def tensor_values(t: Any) -> list[float] | None:
    """A live tensor's values, row-major, as floats (``None`` for ``None``)."""
    return None if t is None else [float(v) for v in t.detach().reshape(-1).tolist()]


def close(recorded: list[Any] | None, expected: list[float]) -> bool:
    """Recorded values equal torch's up to float32 rounding of the last digit."""
    return recorded is not None and recorded == pytest.approx(expected, rel=1e-6, abs=1e-7)
