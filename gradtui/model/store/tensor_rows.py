"""One tensor summary as a row of the ``tensors`` table: raw little-endian bytes, not JSON.

A float32 value is 4 bytes here against about 20 characters in the JSON timeline. The
``encoding`` column names the ``array`` type code the values were packed with: ``f``
(float32, and the narrower floats, whose values float32 holds exactly), ``d`` (float64),
``q``/``Q`` (signed and unsigned 64-bit integers), ``B`` (bool), or ``j`` (JSON text, for
a dtype none of these holds). Statistics are seven numbers packed as ``<5d2q`` (min, max,
mean, std, norm, then the NaN and inf counts; the element count is the shape's); a
statistic that has no meaning (``None``) is stored as NaN, which no statistic of finite
elements can be. Dtype, shape, ``requires_grad`` and ``grad_fn`` repeat across a run,
so they are one row of ``layouts`` that each tensor refers to.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from array import array
from typing import Any

from gradtui.model.tensors import TensorStats, TensorSummary

_STATS = struct.Struct("<5d2q")
_NAN = float("nan")
_BIG_ENDIAN = sys.byteorder == "big"

#: ``(dtype, shape, requires_grad, grad_fn)``: a row of ``layouts``.
Layout = tuple[str, str, int, str | None]
#: ``(encoding, data, stats)``: the rest of a row of ``tensors``.
Contents = tuple[str | None, bytes | None, bytes | None]


def _code(dtype: str) -> str:
    if dtype == "float64":
        return "d"
    if dtype.startswith(("float", "bfloat")):
        return "f"
    if dtype == "bool":
        return "B"
    if dtype == "uint64":
        return "Q"
    if dtype.startswith(("int", "uint")):
        return "q"
    return "j"


def _pack_values(values: Any, flat: list[Any], dtype: str) -> tuple[str, bytes]:
    code = _code(dtype)
    if code != "j":
        try:
            packed = array(code, flat)
        except (TypeError, OverflowError):
            code = "j"
        else:
            if _BIG_ENDIAN:
                packed.byteswap()
            return code, packed.tobytes()
    text = json.dumps(values, allow_nan=True, separators=(",", ":"))
    return "j", text.encode()


def _unpack_values(code: str, data: bytes, shape: tuple[int, ...]) -> Any:
    if code == "j":
        return json.loads(data.decode())
    packed = array(code)
    packed.frombytes(data)
    if _BIG_ENDIAN:
        packed.byteswap()
    flat: list[Any] = packed.tolist()
    if code == "B":
        flat = [bool(v) for v in flat]
    if not shape:
        return flat[0]
    return _nest(flat, shape)


def _nest(flat: list[Any], shape: tuple[int, ...]) -> list[Any]:
    if len(shape) == 1:
        return flat
    stride = math.prod(shape[1:])
    return [_nest(flat[i * stride:(i + 1) * stride], shape[1:]) for i in range(shape[0])]


def _pack_stats(s: TensorStats) -> bytes:
    def f(x: float | None) -> float:
        return _NAN if x is None else float(x)

    return _STATS.pack(f(s.min), f(s.max), f(s.mean), f(s.std), f(s.norm), s.nan, s.inf)


def _unpack_stats(data: bytes, numel: int) -> TensorStats:
    lo, hi, mean, std, norm, nan, inf = _STATS.unpack(data)

    def f(x: float) -> float | None:
        return None if math.isnan(x) else x

    return TensorStats(numel, f(lo), f(hi), f(mean), f(std), f(norm), nan, inf)


def to_row(t: TensorSummary) -> tuple[Layout, Contents]:
    """The layout and contents of ``t``; computes deferred statistics."""
    encoding = data = None
    if t.values is not None:
        encoding, data = _pack_values(t.values, t.flat_values() or [], t.dtype)
    stats = t.stats
    layout = (t.dtype, json.dumps(list(t.shape), separators=(",", ":")), int(t.requires_grad), t.grad_fn)
    return layout, (encoding, data, None if stats is None else _pack_stats(stats))


def from_row(dtype: str, shape_text: str, requires_grad: int, grad_fn: str | None, encoding: str | None,
             data: bytes | None, stats: bytes | None) -> TensorSummary:
    shape = tuple(int(n) for n in json.loads(shape_text))
    values = None if encoding is None or data is None else _unpack_values(encoding, data, shape)
    return TensorSummary(shape, dtype, bool(requires_grad), grad_fn, values=values,
                         stats=None if stats is None else _unpack_stats(stats, math.prod(shape)))
