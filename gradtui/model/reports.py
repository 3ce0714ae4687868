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
from gradtui.model.variables import Var


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluated:
    """The answer to an ``Evaluate``: the value as the variables panel shows it, or one line of error.

    The engine stays paused where it was; ``count`` events are recorded (an ``!`` statement
    adds a note to the timeline, and its events are counted here).
    """

    text: str
    value: Var | None
    error: str | None
    count: int
    #: For ``detail``: torch's repr of the whole tensor, however large (None for a non-tensor).
    full: str | None = None
    #: For ``detail``: the histogram of a tensor's finite values, as ``(low, high, count)`` bins.
    histogram: tuple[tuple[float, float, int], ...] = ()


Report = Paused | Running | InputWanted | Ended | Evaluated


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """The driver's reply to ``InputWanted``: the line typed, or None for end of input."""

    text: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluate:
    """The driver asks the paused engine to evaluate ``text`` in a frame of the script.

    ``frame`` counts from the innermost of the script's frames (0) outwards, as ``u``/``d``
    move. With ``statement`` the text is run as a statement (``!stmt``), which may change
    the script's state; otherwise it must be an expression. ``detail`` asks for the whole
    tensor and its histogram (the tensor detail view). Tracing and recording are suspended
    while it runs, so nothing it does appears as the script's own events.
    """

    text: str
    frame: int = 0
    statement: bool = False
    detail: bool = False
