"""Expressions that reach a tensor no variable names: ``self.loss``, ``scaler.scale(loss)``.

A tensor the script never binds to a name is still reached by something the script
wrote: an attribute of the object whose method is running, or, for the root of a
backward, the expression ``.backward()`` was called on. These read the script's frames
and its source text (never run anything), for ``engine.naming`` to fall back on before
a ``tensor#N``.
"""

from __future__ import annotations

import ast
import linecache
from collections.abc import Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from gradtui.engine.frame_scan import FrameScan


def method_owners(scans: Iterable[FrameScan]) -> tuple[Any, ...]:
    """The ``self`` of each frame read (inner first) whose plain attributes may name a tensor.

    Read from the frames' readings, not from ``f_locals`` afresh (on 3.11 and 3.12 that
    copies a frame's locals, once per frame for every op with an unnamed operand): a
    reading is used only while its frame has bound nothing since (``FrameScan.holds_at``).
    Modules are left out: their parameters and buffers are named by path already.
    """
    owners = []
    for scan in scans:
        obj = scan.mapping.get("self")
        if obj is not None and not isinstance(obj, torch.nn.Module):
            owners.append(obj)
    return tuple(owners)


def self_attributes(owners: Iterable[Any]) -> dict[int, str]:
    """Tensors held as plain attributes of a method's ``self`` (``method_owners``): ``self.loss``."""
    found: dict[int, str] = {}
    for obj in owners:
        attrs = getattr(obj, "__dict__", None)
        if not isinstance(attrs, dict):
            continue
        for attr, value in list(attrs.items()):
            if isinstance(value, torch.Tensor):
                found.setdefault(id(value), f"self.{attr}")
    return found


def call_receiver(frame: FrameType) -> str | None:
    positions = list(frame.f_code.co_positions())
    index = frame.f_lasti // 2
    if not 0 <= index < len(positions):
        return None
    start, end, col, end_col = positions[index]
    if start is None or end is None or col is None or end_col is None:
        return None
    lines = linecache.getlines(frame.f_code.co_filename)[start - 1:end]
    if not lines:
        return None
    # Columns are byte offsets into the UTF-8 encoded lines.
    encoded = [line.encode() for line in lines]
    if len(encoded) == 1:
        segment = encoded[0][col:end_col]
    else:
        segment = b"".join([encoded[0][col:], *encoded[1:-1], encoded[-1][:end_col]])
    text = segment.decode(errors="replace").strip()
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    target: ast.expr | None = None
    if isinstance(func, ast.Attribute) and func.attr == "backward":
        # ``torch.autograd.backward(x)`` names its root as an argument, ``x.backward()`` as the receiver.
        owner = ast.get_source_segment(text, func.value)
        target = (call.args[0] if call.args else None) if owner in ("torch.autograd", "autograd") else func.value
    elif isinstance(func, ast.Name) and func.id == "backward" and call.args:
        target = call.args[0]
    return ast.get_source_segment(text, target) if target is not None else None
