"""Saving a timeline to JSON and loading it back (format documented in docs/timeline-format.md).

This module holds the file's envelope (format name and version, how the run ended, the
node table, the sources) and the file itself (an atomic save, a load that refuses bad
files); one event is ``event_json``'s, the values inside it ``json_values``'.
Loading treats the file as data only: it is parsed with ``json`` and checked field by
field, so a timeline from anywhere can be opened safely, and a file that is not a
gradtui timeline (or is cut short) is refused with one sentence saying so.
Non-finite floats are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``
because strict JSON has no spelling for them.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from gradtui.model.event_json import event_from_json, event_to_json
from gradtui.model.graph import GraphNode
from gradtui.model.json_values import Reader, TimelineFormatError
from gradtui.model.timeline import FORMAT_NAME, FORMAT_VERSION, STATUSES, ErrorInfo, Timeline

__all__ = ["TimelineFormatError", "envelope_to_json", "event_from_json", "event_to_json", "load", "node_to_json",
           "save", "timeline_from_json", "timeline_to_json"]


# ---------------------------------------------------------------- writing


def node_to_json(n: GraphNode) -> dict[str, Any]:
    out = {"id": n.id, "name": n.name, "children": list(n.children), "variable": n.variable, "module": n.module}
    if n.module_class is not None:
        out["module_class"] = n.module_class
    return out


def envelope_to_json(tl: Timeline) -> dict[str, Any]:
    """The document's fields before ``graph``, ``sources`` and ``events``, in the order they are written."""
    error = None
    if tl.error is not None:
        error = {"type": tl.error.type, "message": tl.error.message, "line": tl.error.line, "file": tl.error.file}
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "script": tl.script,
        "argv": list(tl.argv),
        "status": tl.status,
        "exit_code": tl.exit_code,
        "error": error,
        "max_values": tl.max_values,
        "torch_version": tl.torch_version,
    }


def timeline_to_json(tl: Timeline, raw_values: bool = False) -> dict[str, Any]:
    return {
        **envelope_to_json(tl),
        "graph": [node_to_json(n) for n in tl.graph.values()],
        "sources": dict(tl.sources),
        "events": [event_to_json(e, raw_values) for e in tl.events],
    }


def _dumps(tl: Timeline) -> str:
    """The document as one string (json.dump() to a file would use the slow pure-Python encoder).

    Tensor values are first passed through as they are, and the encoder refuses any
    non-finite float; only a timeline that has one is converted number by number, which
    took half of a 10 MiB save.
    """
    options: dict[str, Any] = dict(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return json.dumps(timeline_to_json(tl, raw_values=True), **options)
    except ValueError:
        return json.dumps(timeline_to_json(tl), **options)


def save(tl: Timeline, path: str | os.PathLike[str]) -> None:
    """Write ``tl`` to ``path`` atomically: a reader never sees half a file."""
    write_text_file(path, lambda fh: fh.write(_dumps(tl) + "\n"))


def write_text_file(path: str | os.PathLike[str], write: Callable[[IO[str]], object]) -> None:
    """Call ``write`` on ``path`` opened as UTF-8 text, atomically (a temporary file renamed).

    An existing target that is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO)
    is written to in place: replacing it with a file would destroy the device or pipe.
    """
    target = Path(path)
    try:
        special = target.exists() and not stat.S_ISREG(target.stat().st_mode)
    except OSError:
        special = False
    if special:
        with target.open("w", encoding="utf-8") as fh:
            write(fh)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- reading


def _graph_from(nodes: list[Any]) -> dict[int, GraphNode]:
    """The node table; optional in files, so version-1 timelines written before it still load."""
    table: dict[int, GraphNode] = {}
    for i, d in enumerate(nodes):
        r = Reader(f"graph[{i}]")
        if not isinstance(d, dict):
            raise r.fail("a graph node must be an object")
        children = r.get(d, "children", list, optional=True) or []
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in children):
            raise r.fail("'children' must be a list of node ids")
        node = GraphNode(r.get(d, "id", int), r.get(d, "name", str), tuple(children),
                         r.get(d, "variable", str, optional=True), r.get(d, "module", str, optional=True),
                         r.get(d, "module_class", str, optional=True))
        table[node.id] = node
    return table


def _sources_from(d: dict[str, Any]) -> dict[str, str]:
    if not all(isinstance(v, str) for v in d.values()):
        raise TimelineFormatError("timeline: each entry of 'sources' must be the text of a file")
    return dict(d)


def timeline_from_json(doc: Any) -> Timeline:
    r = Reader("timeline")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise TimelineFormatError("not a gradtui timeline (no \"format\": \"gradtui-timeline\" field)")
    version = doc.get("version")
    if version != FORMAT_VERSION:
        raise TimelineFormatError(
            f"timeline format version {version!r} is not supported (this gradtui reads version {FORMAT_VERSION})"
        )
    status = r.get(doc, "status", str)
    if status not in STATUSES:
        raise r.fail(f"unknown status '{status}'")
    err = r.get(doc, "error", dict, optional=True)
    error = None
    if err is not None:
        er = Reader("timeline.error")
        error = ErrorInfo(er.get(err, "type", str), er.get(err, "message", str),
                          er.get(err, "line", int, optional=True), er.get(err, "file", str, optional=True))
    events = [event_from_json(e, i) for i, e in enumerate(r.get(doc, "events", list))]
    return Timeline(
        script=r.get(doc, "script", str),
        argv=[str(a) for a in r.get(doc, "argv", list)],
        events=events,
        status=status,
        exit_code=r.get(doc, "exit_code", int, optional=True),
        error=error,
        max_values=r.get(doc, "max_values", int, optional=True) or 64,
        torch_version=r.get(doc, "torch_version", str, optional=True),
        graph=_graph_from(r.get(doc, "graph", list, optional=True) or []),
        sources=_sources_from(r.get(doc, "sources", dict, optional=True) or {}),
    )


def load(path: str | os.PathLike[str]) -> Timeline:
    """Read a timeline file; every problem becomes one ``TimelineFormatError`` sentence."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise TimelineFormatError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise TimelineFormatError(f"{p}: is a directory, not a timeline file") from None
    except OSError as exc:
        raise TimelineFormatError(f"{p}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TimelineFormatError(f"{p}: not a timeline (the file is not UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if _looks_cut_short(text):
            raise TimelineFormatError(f"{p}: the file is truncated (it ends before the timeline does)") from None
        raise TimelineFormatError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise TimelineFormatError(f"{p}: not a timeline (JSON nested too deeply)") from None
    try:
        return timeline_from_json(doc)
    except TimelineFormatError as exc:
        raise TimelineFormatError(f"{p}: {exc}") from None
    except (AttributeError, TypeError, KeyError, ValueError, RecursionError) as exc:
        # A field of the wrong shape that the checks above did not name.
        raise TimelineFormatError(f"{p}: malformed timeline ({type(exc).__name__}: {exc})") from None


def _looks_cut_short(text: str) -> bool:
    """A gradtui timeline that starts like one but does not end like one was cut short."""
    head = text.lstrip()[:200]
    return head.startswith("{") and FORMAT_NAME in head and not text.rstrip().endswith("}")
