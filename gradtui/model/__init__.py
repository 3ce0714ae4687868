"""Plain data of a recorded run: events, tensor summaries, the timeline and its JSON form.

Imports neither torch nor textual (a test checks), so a timeline can be loaded, replayed
and queried on a machine without either.
"""
