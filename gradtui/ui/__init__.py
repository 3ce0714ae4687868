"""The Textual app: one widget per module under ``widgets/``, layout in ``app.tcss``.

Renders model values only (events, summaries, the graph's node table); it never touches
live tensors or frames, so the same screens serve a live run and a ``--replay``. Importing
this package must not import torch: ``--replay`` works where torch is not installed.
"""
