"""Runs a user's script under torch and turns what torch does into timeline events.

Imports torch (lazily, in the modules that need it) and never textual: the TUI, the
headless ``--record``/``--trace`` drivers and the tests all drive the same ``Session``.
"""
