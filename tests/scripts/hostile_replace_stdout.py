"""Swaps sys.stdout for a buffer and back: what it printed to the buffer is not output."""
import io, sys
import torch
print("before")
buf = io.StringIO()
old = sys.stdout
sys.stdout = buf
print("captured by the script")
sys.stdout = old
print("after, buffer had:", repr(buf.getvalue()))
