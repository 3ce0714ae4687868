"""What every panel draws from: the events so far and the one the user is looking at.

The app builds one ``View`` per move of the cursor and hands it to each widget, so a
widget is a function of model values and a test can build one from a literal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gradtui.model.events import BackwardDone, Event, GradComputed, NodeRun
from gradtui.model.graph import GraphNode


@dataclass(frozen=True, slots=True)
class View:
    """The timeline as far as it is known, and the event under the cursor (``cursor``)."""

    events: Sequence[Event]
    cursor: int
    graph: Mapping[int, GraphNode] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    #: True once the script has ended (or for a replay): no more events will come.
    finished: bool = False
    #: How the run ended (``finished``, ``error``, ``exited``, ``interrupted``) once it has.
    status: str = "running"
    exit_code: int | None = None
    #: The engine is running towards the next pause; the screen shows an earlier event.
    running: bool = False
    #: While running: how many events the engine had recorded at its latest progress report.
    progress: int | None = None
    breakpoints: frozenset[tuple[str, int]] = frozenset()
    watch: tuple[str, ...] = ()
    #: The folder of the main script: file names on screen are relative to it.
    script_folder: str = ""
    #: Inside the backward pass under the cursor: which of its nodes is on screen.
    node: int | None = None

    @property
    def node_run(self) -> NodeRun | None:
        event = self.current
        if (self.node is None or not isinstance(event, BackwardDone | GradComputed)
                or not 0 <= self.node < len(event.nodes)):
            return None
        return event.nodes[self.node]

    @property
    def current(self) -> Event | None:
        return self.events[self.cursor] if 0 <= self.cursor < len(self.events) else None

    @property
    def at_end(self) -> bool:
        return self.cursor >= len(self.events) - 1
