"""The timeline: every event of one run of a script, and how that run ended.

The engine appends to ``events`` while the script runs and sets ``status`` once at the
end; everything else reads it. Kept free of torch so that a recorded timeline can be
replayed and inspected anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gradtui.model.events import Event
from gradtui.model.graph import GraphNode

FORMAT_NAME: Final = "gradtui-timeline"
FORMAT_VERSION: Final = 1

#: How a run can end. ``running`` only while the engine is still going; ``stopped`` when
#: a ``--break-on`` stop ended a headless run.
#: ``killed``: a recording whose writer vanished without closing it (SIGKILL, the
#: kernel's OOM killer, a power cut): it holds what was committed until then.
STATUSES: Final = ("running", "finished", "error", "exited", "interrupted", "stopped", "killed")


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The exception that ended the script, located in the script's own code."""

    type: str
    message: str
    line: int | None
    file: str | None = None


@dataclass(slots=True)
class Timeline:
    """One run: what was run, the events in order (``events[i].seq == i``), how it ended."""

    script: str
    argv: list[str]
    #: A list in memory, or for a recording the events read from its file as asked for.
    events: Sequence[Event] = field(default_factory=list)
    status: str = "running"
    exit_code: int | None = None
    error: ErrorInfo | None = None
    #: Tensors with at most this many elements keep their values; larger ones statistics.
    max_values: int = 64
    #: The torch version that produced the numbers, when torch ran at all.
    torch_version: str | None = None
    #: Every autograd node any event refers to, by id (see ``gradtui.model.graph``).
    graph: Mapping[int, GraphNode] = field(default_factory=dict)
    #: The text of each of the script's own files that ran, by the name events use, so a
    #: replay shows the source even where the files are not.
    sources: dict[str, str] = field(default_factory=dict)
