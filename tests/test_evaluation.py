"""Evaluating expressions in the paused script (``Evaluate`` -> ``Evaluated``), against torch run directly.

Each test pauses a real run at a line or an op, evaluates there, and compares with what
torch or plain python give: the values, the script's later output with a statement
inserted by hand, the events a call records (none), grad mode, the whole tensor's repr
and its histogram.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.model.reports import Ended, Evaluate, Evaluated, Running
from gradtui.model.variables import Var
from tests.conftest import SCENARIOS
from tests.helpers import flat, of_kind, python_stdout, stdout

WAIT = 30.0
MEAN_CHAIN = SCENARIOS / "mean_chain.py"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def line_of(path: Path, start: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith(start))


def paused_at_line(path: Path, start: str) -> Session:
    """A run of ``path`` paused before the first line that starts with ``start``."""
    session = Session(load_script(str(path)), start_paused=True)
    session.start()
    assert session.wait(WAIT)
    session.continue_({(path.name, line_of(path, start))})
    assert session.wait(WAIT) and session.paused_at is not None
    assert session.paused_at.kind == "line" and session.paused_at.line == line_of(path, start)
    return session


@pytest.fixture
def stopped_after() -> Iterator[list[Session]]:
    sessions: list[Session] = []
    yield sessions
    for session in sessions:
        session.stop()
        assert session.join(WAIT)


def evaluate(session: Session, text: str, **kwargs: object) -> Evaluated:
    session.send(Evaluate(text=text, **kwargs))  # type: ignore[arg-type]
    report = session.next_report(WAIT)
    assert isinstance(report, Evaluated), report
    assert report.text == text
    return report


def texts(var: Var) -> list[str]:
    """Every type and text in a Var tree."""
    out = [var.type, var.text]
    for _, member in var.members:
        out += texts(member)
    return out


def error_of(code: str) -> str:
    """The one line Python itself gives for ``code``'s exception."""
    try:
        eval(code, {})
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    raise AssertionError(f"{code} did not raise")


# ------------------------------------------------------------------ values at a pause


def test_mean_chain_at_backward_values_as_torch_has_them(stopped_after):
    session = paused_at_line(MEAN_CHAIN, "out.backward()")
    stopped_after.append(session)
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    expected_kinds = [type(fn).__name__ if fn is not None else "NoneType" for fn, _ in y.grad_fn.next_functions]

    nexts = evaluate(session, "y.grad_fn.next_functions")
    assert nexts.error is None and nexts.value is not None
    assert [member.members[0][1].type for _, member in nexts.value.members] == expected_kinds
    assert "AccumulateGrad" in expected_kinds and any("AccumulateGrad" in t for t in texts(nexts.value))
    assert not any("0x" in t for t in texts(nexts.value))
    assert nexts.count == len(session.timeline.events)

    requires = evaluate(session, "y.requires_grad")
    assert requires.value is not None and requires.value.text == repr(y.requires_grad) == "True"

    grad_fn = evaluate(session, "y")
    assert grad_fn.value is not None and grad_fn.value.tensor is not None
    assert (grad_fn.value.tensor.is_leaf, grad_fn.value.tensor.grad) == (y.is_leaf, None)

    assert evaluate(session, "q").error == error_of("q") == "NameError: name 'q' is not defined"

    session.next_line()  # past out.backward()
    assert session.wait(WAIT)
    z = 3 * y ** 2
    z.mean().backward()
    grad = evaluate(session, "x.grad")
    assert grad.error is None and grad.value is not None and grad.value.tensor is not None
    assert flat(grad.value.tensor.value) == x.grad.reshape(-1).tolist() == [4.5] * 4


def test_a_statement_without_bang_is_refused_with_a_hint(stopped_after):
    session = paused_at_line(MEAN_CHAIN, "out.backward()")
    stopped_after.append(session)
    count = len(session.timeline.events)
    refused = evaluate(session, "x = 5")
    assert refused.error == "x = 5 is a statement: type !x = 5 to run it (it changes the script's state)"
    assert refused.count == count
    session.continue_()
    assert session.join(WAIT)
    assert _ADDRESS.sub("", stdout(session.timeline)) == _ADDRESS.sub("", python_stdout(MEAN_CHAIN))


def test_a_statement_changes_what_the_script_prints_and_adds_a_note(stopped_after, tmp_path):
    session = paused_at_line(MEAN_CHAIN, "out.backward()")
    stopped_after.append(session)
    before = len(session.timeline.events)
    done = evaluate(session, "y = y * 0", statement=True)
    assert (done.error, done.value) == (None, None)
    assert done.count == before + 1 == len(session.timeline.events)
    note = session.timeline.events[done.count - 1]
    assert note.notes and "y = y * 0" in note.notes[0] and "by hand" in note.notes[0]
    session.continue_()
    assert session.join(WAIT) and session.timeline.status == "finished"

    source = MEAN_CHAIN.read_text().splitlines()
    at = line_of(MEAN_CHAIN, "out.backward()") - 1
    edited = write(tmp_path, "mean_chain.py", "\n".join([*source[:at], "y = y * 0", *source[at:]]) + "\n")
    expected = _ADDRESS.sub("", python_stdout(edited))
    assert "y: tensor([[0., 0.]" in expected
    assert _ADDRESS.sub("", stdout(session.timeline)) == expected


# ------------------------------------------------------------------ nothing evaluated is the script's

SIDE_EFFECTS = """\
    import torch

    def f(n):
        a = torch.ones(2, requires_grad=True)
        opt = torch.optim.SGD([a], lr=0.1)
        (a * n).sum().backward()
        opt.step()
        opt.zero_grad()
        print("in f", n)
        return a.detach().sum().item()

    def forever():
        while True:
            pass

    w = torch.ones(2, requires_grad=True)
    loss = (w * 3).sum()
    loss.backward()
    print("done", w.grad.tolist())
"""


def _paused_at_op(path: Path) -> Session:
    session = Session(load_script(str(path)), start_paused=True)
    session.start()
    assert session.wait(WAIT)
    while session.paused_at is not None and session.paused_at.kind != "op":
        session.step_op()
        assert session.wait(WAIT)
    assert session.paused_at is not None and session.paused_at.kind == "op"
    return session


def test_calling_a_script_function_records_no_events(stopped_after, tmp_path):
    script = write(tmp_path, "side_effects.py", SIDE_EFFECTS)
    session = _paused_at_op(script)  # outside the trace callback: settrace would fire for f
    stopped_after.append(session)
    count = len(session.timeline.events)
    a = torch.ones(2, requires_grad=True)
    opt = torch.optim.SGD([a], lr=0.1)
    (a * 2).sum().backward()
    opt.step()

    result = evaluate(session, "f(2)")
    assert result.error is None and result.value is not None
    assert float(result.value.text) == pytest.approx(a.detach().sum().item())
    assert result.count == count == len(session.timeline.events)
    session.continue_()
    assert session.join(WAIT) and session.timeline.status == "finished"

    tl = session.timeline
    f_lines = set(range(line_of(script, "def f(n):") + 1, line_of(script, "def forever():")))
    assert not [e for e in tl.events if e.line in f_lines]
    assert [len(of_kind(tl, kind)) for kind in ("backward", "step", "zero_grad")] == [1, 0, 0]
    assert stdout(tl) == python_stdout(script) == "done [3.0, 3.0]\n"


def test_grad_mode_is_the_scripts_own(stopped_after, tmp_path):
    script = write(tmp_path, "no_grad.py", """\
        import torch
        w = torch.ones(2, requires_grad=True)
        with torch.no_grad():
            v = w * 2
            u = v + 1
        print(u)
    """)
    session = paused_at_line(script, "u = v + 1")
    stopped_after.append(session)
    with torch.no_grad():
        expected = torch.is_grad_enabled()
    inside = evaluate(session, "torch.is_grad_enabled()")
    assert inside.value is not None and inside.value.text == repr(expected) == "False"
    after = line_of(script, "print(u)")
    session.continue_({(script.name, after)})
    assert session.wait(WAIT) and session.paused_at is not None and session.paused_at.line == after
    outside = evaluate(session, "torch.is_grad_enabled()")
    assert outside.value is not None and outside.value.text == "True"


def test_errors_are_one_line_and_never_end_the_script(stopped_after):
    session = paused_at_line(MEAN_CHAIN, "out.backward()")
    stopped_after.append(session)
    assert evaluate(session, "1/0").error == error_of("1/0")
    assert evaluate(session, "__import__('sys').exit(3)").error == "SystemExit: 3"
    assert evaluate(session, "input()").error.startswith("InputDuringEvaluation: input() cannot be answered")
    assert evaluate(session, "raise KeyboardInterrupt", statement=True).error == "KeyboardInterrupt"
    printed = evaluate(session, "print('from the prompt') or 7")
    assert printed.value is not None and printed.value.text == "7"
    session.continue_()
    assert session.join(WAIT) and session.timeline.status == "finished"
    assert "from the prompt" not in stdout(session.timeline)
    assert _ADDRESS.sub("", stdout(session.timeline)) == _ADDRESS.sub("", python_stdout(MEAN_CHAIN))


# ------------------------------------------------------------------ frames


def test_a_callers_frame_sees_its_own_locals_and_a_statement_writes_back(stopped_after, tmp_path):
    source = textwrap.dedent("""\
        import torch

        def inner(t):
            s = t * 2
            return s

        def outer():
            local_in_outer = torch.full((2,), 7.0)
            r = inner(local_in_outer)
            return r + local_in_outer

        print(outer())
    """)
    script = write(tmp_path, "frames.py", source)
    session = paused_at_line(script, "return s")
    stopped_after.append(session)
    caller = evaluate(session, "local_in_outer * 1", frame=1)
    assert caller.value is not None and caller.value.tensor is not None
    assert flat(caller.value.tensor.value) == torch.full((2,), 7.0).tolist()
    assert evaluate(session, "local_in_outer", frame=0).error == "NameError: name 'local_in_outer' is not defined"
    assert evaluate(session, "[s[0] * k for k in range(2)]").value is not None  # a comprehension sees the locals
    assert evaluate(session, "outer", frame=2).value is not None
    assert evaluate(session, "t", frame=3).error.startswith("there is no frame 3")

    # Frame 0 is inside the trace callback (CPython writes its locals back after it);
    # frame 1 is not: its write-back is the evaluator's own.
    assert evaluate(session, "s = s + 100", statement=True).error is None
    assert evaluate(session, "local_in_outer = local_in_outer + 1", frame=1, statement=True).error is None
    session.continue_()
    assert session.join(WAIT)
    edited = write(tmp_path, "edited.py", source.replace("    return s\n", "    s = s + 100\n    return s\n").replace(
        "    r = inner(local_in_outer)\n", "    r = inner(local_in_outer)\n    local_in_outer = local_in_outer + 1\n"))
    assert stdout(session.timeline) == python_stdout(edited) == "tensor([122., 122.])\n"


# ------------------------------------------------------------------ detail


def test_detail_gives_torchs_whole_repr_and_histc(stopped_after, tmp_path):
    script = write(tmp_path, "big.py", """\
        import torch
        big = torch.randn(100, 100, generator=torch.Generator().manual_seed(0))
        print(big.shape)
    """)
    session = paused_at_line(script, "print(big.shape)")
    stopped_after.append(session)
    big = torch.randn(100, 100, generator=torch.Generator().manual_seed(0))
    torch.set_printoptions(threshold=math.inf)
    try:
        whole = repr(big)
    finally:
        torch.set_printoptions(profile="default")

    detail = evaluate(session, "big", detail=True)
    assert detail.full == whole and "..." not in whole
    assert "..." in repr(big)  # the print options are back
    counts = [count for _, _, count in detail.histogram]
    assert sum(counts) == 10_000 and counts == [int(c) for c in torch.histc(big, bins=20).tolist()]
    lows = [low for low, _, _ in detail.histogram]
    assert lows[0] == pytest.approx(big.min().item()) and detail.histogram[-1][1] == pytest.approx(big.max().item())
    plain = evaluate(session, "big")
    assert (plain.full, plain.histogram) == (None, ())


# ------------------------------------------------------------------ stopping and the end


def test_a_stop_ends_an_evaluation_that_never_returns(tmp_path):
    script = write(tmp_path, "side_effects.py", SIDE_EFFECTS)
    session = _paused_at_op(script)
    session.send(Evaluate(text="forever()"))
    assert isinstance(session.next_report(0.3), Running)
    session.stop()
    assert session.join(WAIT)
    assert session.timeline.status == "interrupted"
    assert isinstance(session.next_report(WAIT), Ended)


def test_evaluating_after_the_end_says_so_and_the_end_stays():
    session = Session(load_script(str(MEAN_CHAIN)))
    session.start()
    assert session.join(WAIT)
    session.send(Evaluate(text="x"))
    answer = session.next_report(WAIT)
    assert isinstance(answer, Evaluated) and answer.error is not None and "ended" in answer.error
    assert isinstance(session.next_report(WAIT), Ended)
