"""The recording: one SQLite file that grows while the script runs (docs/recording-format.md).

A run of any length is kept on disk, not in memory: the engine's writer (``writer``)
commits events in batches at least every half second, so a killed run keeps all but its
last moments, and readers (``reader``: the app, ``--replay``, another process, the
``sqlite3`` tool) open it while it grows and ask indexed questions instead of loading it.
``schema`` holds the tables, ``tensor_rows`` how a tensor is stored (raw little-endian
bytes), ``export`` the version-1 JSON timeline written from a recording. Python's own
``sqlite3`` only: no torch, no textual.
"""
