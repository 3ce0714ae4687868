"""Prints "bye" then exits with status 3."""
import sys

print("bye")
sys.exit(3)
