"""What the event types refuse (``gradtui.model.events``), and that mypy holds consumers to every kind.

An event missing a field, built positionally, or saying what can never be (a negative
line, a third stream) is refused where it is built, not discovered later by the panel
that draws it. And a ``match`` over ``Event`` that forgets a kind is a type error: the
test runs mypy on a consumer that forgets one, and on the same consumer complete.
"""

from __future__ import annotations

import dataclasses
import textwrap
import typing
from pathlib import Path

import pytest

from gradtui.model.events import (
    EVENT_TYPES,
    BackwardDone,
    Event,
    EventKind,
    LineReached,
    OpCalled,
    OutputWritten,
    RunReviewed,
    ValueWatched,
)


def test_an_event_missing_a_required_field_cannot_be_built() -> None:
    with pytest.raises(TypeError, match="grads"):
        BackwardDone(seq=0, file="s.py", line=3, root="loss", loss=1.0, loss_scale=None, graph=None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="function"):
        LineReached(seq=0, file="s.py", line=3)  # type: ignore[call-arg]


def test_fields_are_given_by_keyword() -> None:
    with pytest.raises(TypeError):
        ValueWatched(0, "s.py", 3, name="x", value=1.0)  # type: ignore[misc]


def test_only_true_values_have_defaults() -> None:
    """No notes, a backward recorded without its nodes, and what is true of most events of a kind
    (an op outside autocast and inference mode, a backward from every leaf, a step not
    skipped, a line whose variables were not recorded); nothing else can be left out."""
    defaults = {(cls.kind, f.name): f.default for cls in EVENT_TYPES.values() for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING}
    assert defaults == {**{(kind, "notes"): () for kind in EVENT_TYPES}, ("backward", "nodes"): (),
                        ("backward", "inputs"): (), ("op", "autocast"): None, ("op", "inference"): False,
                        ("grad", "result_graphs"): (), ("grad", "nodes"): (), ("hook", "node"): None,
                        ("schedule", "changes"): (), ("schedule", "constructed"): False, ("step", "skipped"): None,
                        ("line", "scope"): None}


@pytest.mark.parametrize("seq, line", [(-1, 3), (0, -1)])
def test_a_negative_position_is_refused(seq: int, line: int) -> None:
    with pytest.raises(ValueError, match="count from 0"):
        RunReviewed(seq=seq, file="s.py", line=line, notes=("a note",))


def test_output_goes_to_stdout_or_stderr() -> None:
    assert OutputWritten(seq=0, file="s.py", line=1, stream="stderr", text="x\n").stream == "stderr"
    with pytest.raises(ValueError, match="stdout, stderr"):
        OutputWritten(seq=0, file="s.py", line=1, stream="stdlog", text="x\n")


def test_events_are_frozen() -> None:
    event = OpCalled(seq=0, file="s.py", line=1, op="mul", grad_fn=None, grad_enabled=True, args=(), output=None,
                     graph=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.op = "add"  # type: ignore[misc]


def test_the_union_the_kinds_and_the_table_agree() -> None:
    members = typing.get_args(Event)
    assert [cls.kind for cls in members] == list(typing.get_args(EventKind)) == list(EVENT_TYPES)
    assert len(set(EVENT_TYPES)) == len(members) == 18
    assert all(isinstance(cls(**_minimal(cls)), Event) for cls in members)


def _minimal(cls: type[Event]) -> dict[str, object]:
    values: dict[str, object] = {"seq": 0, "file": "s.py", "line": 1, "stream": "stdout", "mode": "train",
                                 "where": "tensor"}
    return {f.name: values.get(f.name) for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


CONSUMER = '''
from typing import assert_never
from gradtui.model import events as ev

def name(event: ev.Event) -> str:
    match event:
{cases}
        case _:
            assert_never(event)
'''


def _consumer(kinds: list[str]) -> str:
    cases = "".join(f"        case ev.{EVENT_TYPES[k].__name__}():\n            return {k!r}\n" for k in kinds)
    return textwrap.dedent(CONSUMER).format(cases=cases)


def test_mypy_names_a_match_that_forgets_a_kind(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    every = list(EVENT_TYPES)
    (tmp_path / "complete.py").write_text(_consumer(every), encoding="utf-8")
    (tmp_path / "forgets.py").write_text(_consumer([k for k in every if k != "watch"]), encoding="utf-8")
    root = str(Path(__file__).resolve().parent.parent)
    options = ["--strict", "--no-incremental", "--python-version", "3.11"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        out, _, status = api.run([*options, str(tmp_path / "complete.py")])
        assert status == 0, out
        out, _, status = api.run([*options, str(tmp_path / "forgets.py")])
    assert status == 1
    assert 'incompatible type "ValueWatched"; expected "Never"' in out
