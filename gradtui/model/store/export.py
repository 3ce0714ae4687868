"""A recording as a version-1 JSON timeline (docs/timeline-format.md), and the way back.

``export_json`` writes the same bytes ``codec.save`` writes for the same run, event by
event, so a run of any length is exported in constant memory; other tools, and
``--record OUT.json``, keep the format they know. ``write_timeline`` files a timeline
held in memory (a v1 JSON file, a test's) as a recording.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import IO, Any

from gradtui.model.codec import envelope_to_json, node_to_json, write_text_file
from gradtui.model.event_json import event_to_json
from gradtui.model.json_values import TimelineFormatError
from gradtui.model.store.reader import Recording, StoredGraph
from gradtui.model.store.writer import RunInfo, StoreWriter
from gradtui.model.timeline import Timeline

_OPTIONS: dict[str, Any] = dict(ensure_ascii=False, separators=(",", ":"))


def _pieces(tl: Timeline) -> Iterator[str]:
    head = envelope_to_json(tl)
    head_text = json.dumps(head, allow_nan=False, **_OPTIONS)
    assert head_text.endswith("}")
    yield head_text[:-1] + ',"graph":['
    graph = tl.graph
    nodes = graph.rows() if isinstance(graph, StoredGraph) else iter(graph.values())
    for i, node in enumerate(nodes):
        yield ("," if i else "") + json.dumps(node_to_json(node), allow_nan=False, **_OPTIONS)
    yield '],"sources":' + json.dumps(dict(tl.sources), allow_nan=False, **_OPTIONS) + ',"events":['
    for i, event in enumerate(tl.events):
        text = _dump_event(event)
        yield ("," if i else "") + text
    yield "]}\n"


def _dump_event(event: Any) -> str:
    """As ``codec``: values passed through, converted only when a non-finite float refuses."""
    try:
        return json.dumps(event_to_json(event, raw_values=True), allow_nan=False, **_OPTIONS)
    except ValueError:
        return json.dumps(event_to_json(event), allow_nan=False, **_OPTIONS)


def write_json(tl: Timeline, out: IO[str]) -> None:
    for piece in _pieces(tl):
        out.write(piece)


def export_json(source: Recording | Timeline, path: str | os.PathLike[str]) -> None:
    """Write the run to ``path`` as a v1 JSON timeline, atomically (devices and pipes in place)."""
    if isinstance(source, Recording) and source.execute("SELECT 1 FROM events WHERE kind = 'dropped' LIMIT 1"):
        raise TimelineFormatError(f"{source.path}: recorded with --keep-steps, it lacks the detail of some steps, "
                                  "which a version-1 JSON timeline cannot leave out; open it with --replay instead")
    tl = source.timeline() if isinstance(source, Recording) else source
    write_text_file(path, lambda fh: write_json(tl, fh))


def write_timeline(tl: Timeline, path: str | os.PathLike[str]) -> None:
    """File ``tl`` (events, graph, sources, how it ended) as a recording at ``path``."""
    writer = StoreWriter(path, RunInfo(script=tl.script, argv=list(tl.argv), max_values=tl.max_values,
                                       torch_version=tl.torch_version), sources=lambda: tl.sources)
    for node in tl.graph.values():
        writer.add_node(node)
    for event in tl.events:
        writer.add(event)
    writer.close(tl.status, tl.exit_code, tl.error)
