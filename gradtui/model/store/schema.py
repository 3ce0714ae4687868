"""The tables of a recording, and opening one (documented in docs/recording-format.md).

Every question the app asks has an index: events by kind (the next backward, how many
steps so far), by line (a breakpoint), by parameter (a gradient's history), and the
``steps`` table by step (the summaries the plot reads, and where each step's events
start: ``events.step`` rises with ``seq``, so no index of its own is needed). The
schema has a version of its own in ``meta``; a reader refuses another version with one
sentence, as the JSON codec does.

The loss curve and the watched values read one column of every ``backward`` or ``watch``
event: ``events_by_kind`` holds ``nth``, ``value`` and ``name`` beside the key, and
``steps_dropped`` the loss of each step ``--keep-steps`` dropped, so that reading a curve
reads the index alone. Through a key-only index, each point was a page of the events
table, among the payloads: on a 20,000-step recording of the small benchmark MLP, reading
the whole curve (the first jump to the end) took 0.49-1.45 s from a cold disk cache,
against 45 ms from the index, and the file grew by 0.6%. Recordings made before keep
their narrower indexes and are read the same way, only more slowly.
"""

from __future__ import annotations

import sqlite3
from typing import Final

FORMAT_NAME: Final = "gradtui-recording"
SCHEMA_VERSION: Final = 1
#: The first 16 bytes of every SQLite file: how a recording is recognised before it is opened.
SQLITE_MAGIC: Final = b"SQLite format 3\x00"

TABLES: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    script TEXT NOT NULL,
    argv TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    error TEXT,
    max_values INTEGER NOT NULL,
    torch_version TEXT,
    gradtui_version TEXT,
    python_version TEXT,
    options TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    started REAL,
    updated REAL,
    ended REAL
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    step INTEGER NOT NULL,
    nth INTEGER NOT NULL,
    name TEXT,
    value REAL,
    noted INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX events_by_kind ON events (kind, seq, nth, value, name);
CREATE INDEX events_by_line ON events (file, line, seq) WHERE kind = 'line';
CREATE INDEX events_noted ON events (seq) WHERE noted = 1;
CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE event_params (param INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (param, seq)) WITHOUT ROWID;
CREATE TABLE layouts (
    id INTEGER PRIMARY KEY,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    requires_grad INTEGER NOT NULL,
    grad_fn TEXT,
    UNIQUE (dtype, shape, requires_grad, grad_fn)
);
CREATE TABLE tensors (
    id INTEGER PRIMARY KEY,
    layout INTEGER NOT NULL REFERENCES layouts (id),
    encoding TEXT,
    data BLOB,
    stats BLOB
);
CREATE TABLE graph (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    children TEXT NOT NULL,
    variable TEXT,
    module TEXT,
    module_class TEXT
);
CREATE TABLE sources (file TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE param_sets (id INTEGER PRIMARY KEY, names TEXT NOT NULL);
CREATE TABLE steps (
    step INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    optimizer TEXT NOT NULL,
    backward INTEGER NOT NULL,
    loss REAL,
    lrs TEXT NOT NULL,
    params INTEGER NOT NULL REFERENCES param_sets (id),
    grad_norms TEXT NOT NULL,
    param_norms TEXT NOT NULL,
    update_norms TEXT NOT NULL,
    non_finite TEXT NOT NULL,
    kept INTEGER NOT NULL
);
CREATE INDEX steps_dropped ON steps (seq, backward, loss, kept) WHERE kept = 0;
"""


def configure_writer(db: sqlite3.Connection) -> None:
    """WAL: readers see every committed batch while the writer goes on, and a crash loses
    only the batch in flight. ``synchronous=NORMAL`` syncs at checkpoints, not at every
    commit: a killed process loses nothing committed, a power cut the last moments."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
