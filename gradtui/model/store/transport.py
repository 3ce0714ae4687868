"""How a batch of events crosses the pipe to the writer's process: pickles in length-prefixed frames.

Pickle, because its C encoder costs the script's side about a third of what building the
rows would (the point of the writer's process is to take that work off the script's GIL).
Two kinds of object need a spelling of their own, given by a private dispatch table (the
user's own pickling is untouched):

- frozen ``slots`` dataclasses (every event, ``Var``, ``Change`` ...): the ``__getstate__``
  that ``dataclasses`` gives them calls ``fields()`` for every object, which made pickling
  three times slower; here each is its class and a tuple of its fields, read in C.
- ``TensorSummary``: its fields, with deferred statistics computed (the writer's process
  has no torch to compute them), and read-only mappings as plain dicts.

A frame is 8 bytes of little-endian length and the pickle. Both ends are gradtui of the
same installation (the writer's process is started from this package), so the pickles
never cross a trust boundary or a version.
"""

from __future__ import annotations

import dataclasses
import io
import operator
import pickle
import struct
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, BinaryIO

from gradtui.model.tensors import TensorSummary

_LENGTH = struct.Struct("<Q")
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_set = object.__setattr__

Reducer = Callable[[Any], tuple[Any, ...]]


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """A frozen dataclass with ``values`` as its fields, in ``dataclasses.fields`` order."""
    obj: Any = object.__new__(cls)
    for name, value in zip(_field_names(cls), values):
        _set(obj, name, value)
    return obj


_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _summary(t: TensorSummary) -> tuple[Any, ...]:
    return (TensorSummary, (t.shape, t.dtype, t.requires_grad, t.grad_fn, t.values, t.stats))


def _mapping(m: MappingProxyType[Any, Any]) -> tuple[Any, ...]:
    return (dict, (dict(m),))


def _dataclass_reducer(cls: type) -> Reducer:
    names = _field_names(cls)
    if len(names) == 1:
        (name,) = names
        return lambda obj: (_rebuild, (cls, (getattr(obj, name),)))
    get = operator.attrgetter(*names)
    return lambda obj: (_rebuild, (cls, get(obj)))


class _Reducers(dict[type, Reducer]):
    """The dispatch table: filled on first sight of each class (``KeyError``: pickle's default)."""

    def __init__(self) -> None:
        super().__init__({TensorSummary: _summary, MappingProxyType: _mapping})
        self._plain: set[type] = set()

    def __missing__(self, cls: type) -> Reducer:
        if cls in self._plain:
            raise KeyError(cls)
        params = getattr(cls, "__dataclass_params__", None)
        if params is not None and params.frozen and "__slots__" in cls.__dict__:
            reducer = self[cls] = _dataclass_reducer(cls)
            return reducer
        self._plain.add(cls)
        raise KeyError(cls)


_REDUCERS = _Reducers()


def dumps(obj: Any) -> bytes:
    """``obj`` as one frame."""
    buffer = io.BytesIO()
    buffer.write(b"\0" * _LENGTH.size)
    pickler = pickle.Pickler(buffer, _PROTOCOL)
    pickler.dispatch_table = _REDUCERS
    pickler.dump(obj)
    data = buffer.getbuffer()
    _LENGTH.pack_into(data, 0, len(data) - _LENGTH.size)
    del data
    return buffer.getvalue()


def read_frame(stream: BinaryIO) -> Any:
    """The next frame's object; ``EOFError`` at the end of the stream (also inside a frame cut short)."""
    head = _read_exactly(stream, _LENGTH.size)
    (length,) = _LENGTH.unpack(head)
    return pickle.loads(_read_exactly(stream, length))


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """``n`` bytes, from a buffered stream or a raw pipe (whose reads may return fewer)."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        more = stream.read(n - got)
        if not more:  # b"" at the end; None from a non-blocking stream, which these never are
            raise EOFError
        parts.append(more)
        got += len(more)
    return parts[0] if len(parts) == 1 else b"".join(parts)
