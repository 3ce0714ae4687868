"""``quick_init``: the faster ``__init__`` must take exactly the arguments the dataclass's took."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from gradtui.model.events import EVENT_TYPES, Change, OpCalled
from gradtui.model.quick_init import quick_init
from gradtui.model.tensors import TensorSummary
from gradtui.model.variables import ScopeDelta, Var


def _make() -> type:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Base:
        seq: int
        file: str = "a.py"

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Child(Base):
        size: int
        notes: tuple[str, ...] = ()
        extra: dict[str, int] = dataclasses.field(default_factory=dict)

        def __post_init__(self) -> None:
            if self.size < 0:
                raise ValueError("size counts from 0")

    return Child


Plain = _make()
Quick: type = quick_init(_make())
Quick.__qualname__ = "Quick"  # so that pickle finds it here


def _pair() -> tuple[type, type]:
    """The same class twice: as the dataclass made it, and with ``quick_init``."""
    return Plain, Quick


def test_the_same_signature_defaults_and_errors() -> None:
    plain, quick = _pair()
    def shape(cls: type) -> list[tuple[str, object, str]]:
        params = inspect.signature(vars(cls)["__init__"]).parameters.values()
        return [(p.name, p.kind, "factory" if "factory" in repr(p.default) else repr(p.default)) for p in params]

    assert shape(plain) == shape(quick)
    a, b = plain(seq=1, size=3), quick(seq=1, size=3)
    assert dataclasses.astuple(a) == dataclasses.astuple(b) == (1, "a.py", 3, (), {})
    assert quick(seq=1, size=3).extra is not quick(seq=1, size=3).extra  # a new dict each time
    assert quick(seq=2, file="b.py", size=4, notes=("n",), extra={"k": 1}).extra == {"k": 1}
    with pytest.raises(TypeError, match="size"):
        quick(seq=1)
    with pytest.raises(TypeError):
        quick(1, size=3)  # keyword-only stays keyword-only
    with pytest.raises(ValueError, match="size counts from 0"):
        quick(seq=1, size=-1)  # __post_init__ still runs


def test_still_frozen_hashable_and_picklable() -> None:
    _, quick = _pair()
    value = quick(seq=1, size=3, extra={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.size = 4
    assert pickle.loads(pickle.dumps(value)) == value
    assert dataclasses.replace(value, size=5).size == 5
    change = Change(None, None)
    assert hash(change) == hash(Change(None, None))


def test_a_class_it_cannot_serve_keeps_its_own() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived:
        n: int
        double: int = dataclasses.field(init=False, default=0)

    original = Derived.__init__
    assert quick_init(Derived).__init__ is original

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        n: int
        m: int = 0

    @dataclasses.dataclass(frozen=True, slots=True)
    class OnTop(Unslotted):
        k: int = 1

    # slots=True gives OnTop a slot for every field, the base's too: those serve.
    plain = OnTop(1, 2)
    generated = vars(OnTop)["__init__"]
    quick_init(OnTop)
    assert vars(OnTop)["__init__"] is not generated
    assert dataclasses.astuple(OnTop(1, 2)) == dataclasses.astuple(plain) == (1, 2, 1)


def test_the_recording_classes_use_it() -> None:
    for cls in (*EVENT_TYPES.values(), Change, Var, ScopeDelta):
        assert "_set0" in cls.__init__.__code__.co_names, cls
    op = OpCalled(seq=3, file="s.py", line=4, op="mul", grad_fn="MulBackward0", grad_enabled=True, args=("x", "2"),
                  output=TensorSummary((1,), "float32", values=[2.0]), graph=None)
    assert op.output is not None and (op.seq, op.op, op.output.values) == (3, "mul", [2.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.op = "add"  # type: ignore[misc]
