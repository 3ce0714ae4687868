"""What the engine tells its driver between events, and the driver's answer to ``input()``.

The script's thread appends to the timeline; the driver (the app, a headless run, a test)
reads it only as far as the engine has *reported*. A report is made in the script's
thread at a moment when it is not writing (paused at the gate, waiting for an answer, or
ended), so everything it counts is complete: the ``count`` first events, the node table
they point into, the statistics of their tensors. The app posts each report to itself as
a Textual message and draws from the events it counts, never from the tail the engine
may be appending to.

This module must not import torch or textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gradtui.model.timeline import ErrorInfo


def _no_sources() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Paused:
    """The script waits at the gate after event ``seq``; ``count`` events are recorded."""

    seq: int
    count: int
    #: The script's source files seen so far, by display name (a copy: the engine adds more).
    sources: Mapping[str, str] = field(default_factory=_no_sources)


@dataclass(frozen=True, slots=True, kw_only=True)
class Running:
    """The engine is still running towards the next pause: ``count`` events so far.

    Made on the driver's thread from the length of the timeline while the script's thread
    may be appending, not at a stop: the app shows it as progress only and draws nothing
    from it.
    """

    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InputWanted:
    """The script called ``input(prompt)`` and waits for an ``Answer``."""

    prompt: str
    count: int
    sources: Mapping[str, str] = field(default_factory=_no_sources)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended:
    """The script has ended and its ``count`` events are all there will be."""

    count: int
    status: str
    exit_code: int | None
    sources: Mapping[str, str] = field(default_factory=_no_sources)
    #: The exception that ended the script, if one did.
    error: ErrorInfo | None = None


Report = Paused | Running | InputWanted | Ended


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """The driver's reply to ``InputWanted``: the line typed, or None for end of input."""

    text: str | None
