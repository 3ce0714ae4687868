"""Helper module imported by sibling_import.py: square(t) = t * t."""


def square(t):
    return t * t
