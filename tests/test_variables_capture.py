"""The script's variables at each line event (``LineReached.scope``), compared with torch and plain Python.

Each test folds the deltas of a line event back along ``since`` (``gradtui.model.scopes``)
to the variables they say the frame held, and compares them with what the script's frames held at that line
under plain Python (a ``sys.settrace`` of its own, below) or with torch run directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import torch

from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.model import scopes
from gradtui.model.events import LineReached
from gradtui.model.timeline import Timeline
from gradtui.model.variables import KEYFRAME_EVERY, Var
from tests.conftest import REPO, SCENARIOS
from tests.helpers import plain_python

WAIT = 30.0


def write(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def run(path: Path, **options: Any) -> Timeline:
    session = Session(load_script(str(path)), **options)
    session.start()
    assert session.join(WAIT), f"{path} did not finish"
    assert session.timeline.status == "finished", session.timeline.error
    return session.timeline


def lines(tl: Timeline) -> list[LineReached]:
    return [e for e in tl.events if isinstance(e, LineReached)]


def fold(tl: Timeline, event: LineReached) -> dict[str, Var]:
    """The frame's variables at ``event``, as the model folds them back to a full delta."""
    assert event.scope is not None
    variables, complete = scopes.fold(tl.events, event.seq, event.scope.frame)
    assert complete
    return variables


def values(var: Var | None) -> Any:
    assert var is not None and var.tensor is not None, var
    return var.tensor.value.values


def grad_values(var: Var | None) -> Any:
    assert var is not None and var.tensor is not None, var
    return None if var.tensor.grad is None else var.tensor.grad.values


def at_line(tl: Timeline, line: int, function: str = "<module>") -> list[LineReached]:
    return [e for e in lines(tl) if e.line == line and e.function == function]


def traced_plainly(path: Path) -> list[tuple[int, str, int, dict[str, Any], tuple[tuple[int, int], ...]]]:
    """Run ``path`` under plain Python with a tracer of its own: at each line of the script,
    (frame number, function, line, the ints and tensors it holds, (caller number, its line)...)."""
    frames: list[FrameType] = []  # kept alive, so that each frame is its own number
    seen: list[tuple[int, str, int, dict[str, Any], tuple[tuple[int, int], ...]]] = []
    filename = str(path)

    def number(frame: FrameType) -> int:
        for i, known in enumerate(frames):
            if known is frame:
                return i + 1
        frames.append(frame)
        return len(frames)

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            held: dict[str, Any] = {}
            # What the line's code can see by name: in a module's frame, its globals too (on
            # 3.13 a comprehension inlined there shows only its own variables as f_locals).
            visible = ({**frame.f_globals, **frame.f_locals} if frame.f_code.co_name == "<module>"
                       else frame.f_locals)
            for name, value in visible.items():
                if isinstance(value, torch.Tensor):
                    held[name] = value.detach().tolist()
                elif isinstance(value, int | float) and not name.startswith("__"):
                    held[name] = repr(value)
            callers = []
            caller = frame.f_back
            while caller is not None and caller.f_code.co_filename == filename:
                callers.append((number(caller), caller.f_lineno))
                caller = caller.f_back
            seen.append((number(frame), frame.f_code.co_name, frame.f_lineno, held, tuple(callers)))
        return local

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == filename else None

    code = compile(path.read_text(), filename, "exec")
    sys.settrace(call)
    try:
        exec(code, {"__name__": "__main__", "__file__": filename})
    finally:
        sys.settrace(None)
    return seen


def test_mean_chain_y_before_backward_and_x_grad_after() -> None:
    tl = run(SCENARIOS / "mean_chain.py")
    # The tutorial, run by torch directly.
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = 3 * (y ** 2)
    out = z.mean()
    backward = at_line(tl, 21)
    assert len(backward) == 1
    before = fold(tl, backward[0])
    assert set(before) == {"x", "y", "z", "out"}
    facts = before["y"].tensor
    assert facts is not None
    assert facts.value.requires_grad is y.requires_grad is True
    assert facts.is_leaf is y.is_leaf is False
    assert facts.value.grad_fn == type(y.grad_fn).__name__ == "AddBackward0"
    assert facts.grad is None
    assert facts.value.shape == tuple(y.shape) == (2, 2)
    assert facts.value.values == y.tolist()
    assert facts.node is not None and tl.graph[facts.node].name == "AddBackward0"
    assert grad_values(before["x"]) is None
    out.backward()
    after = lines(tl)[lines(tl).index(backward[0]) + 1]
    assert x.grad is not None
    assert grad_values(fold(tl, after)["x"]) == x.grad.tolist() == [[4.5, 4.5], [4.5, 4.5]]


LOOP = """\
    import torch

    def f(a, k):
        b = a * k
        c = b + 1
        del b
        return c

    total = 0
    for i in range(40):
        r = f(torch.ones(2), i)
        pass
        n = i * 2
        total = total + n
    print(total)
"""


def as_plain_python(tl: Timeline, path: Path) -> tuple[dict[int, int], dict[int, list[LineReached]]]:
    """Check every line event's folded variables, frame and callers against plain Python's;
    return plain Python's frame numbers -> gradtui's, and each frame's line events."""
    plain = traced_plainly(path)
    events = lines(tl)
    assert [(e.function, e.line) for e in events] == [(p[1], p[2]) for p in plain]
    serials: dict[int, int] = {}
    deltas: dict[int, list[LineReached]] = {}
    for event, (number, _, _, held, callers) in zip(events, plain, strict=True):
        scope = event.scope
        assert scope is not None
        assert serials.setdefault(number, scope.frame) == scope.frame
        deltas.setdefault(scope.frame, []).append(event)
        shown = {name: values(var) if var.role == "tensor" else var.text
                 for name, var in fold(tl, event).items() if var.role in ("tensor", "number")}
        assert shown == held, (event.line, event.function)
        if scope.full:
            assert tuple((ref.frame, ref.line) for ref in scope.callers) == tuple(
                (serials[n], line) for n, line in callers)
            assert all(ref.function == "<module>" and ref.file == "script.py" for ref in scope.callers)
    return serials, deltas


def test_a_function_called_in_a_loop(tmp_path: Path) -> None:
    path = write(tmp_path, LOOP)
    tl = run(path)
    serials, deltas = as_plain_python(tl, path)
    # Frames are numbered from 1 in the order the run entered them: the module, then 40 calls.
    assert sorted(serials.values()) == list(range(1, 42)) == [serials[n] for n in sorted(serials)]
    module = deltas[1]
    changed = [e for e in module if not e.scope.empty]  # type: ignore[union-attr]
    assert len(changed) > 2 * KEYFRAME_EVERY
    fulls = [i for i, e in enumerate(changed) if e.scope.full]  # type: ignore[union-attr]
    assert fulls == list(range(0, len(changed), KEYFRAME_EVERY))
    for e in module:
        scope = e.scope
        assert scope is not None
        assert (scope.since is None) == (e is module[0])  # a full delta keeps since but for the frame's first
        if e.line == 13:  # after `pass`: the line before changed nothing
            assert scope.empty and not scope.changed and not scope.gone
            assert scope.since is not None and tl.events[scope.since].line == 12
    calls = [deltas[frame] for frame in range(2, 42)]
    for call in calls:
        assert [e.line for e in call] == [4, 5, 6, 7]
        assert call[0].scope.full and set(call[0].scope.changed) == {"a", "k"}  # type: ignore[union-attr]
        assert call[0].scope.callers[0].line == 11  # type: ignore[union-attr]
        assert list(call[2].scope.changed) == ["c"]  # type: ignore[union-attr]
        assert call[3].scope.gone == ("b",) and not call[3].scope.changed  # type: ignore[union-attr]


GENERATOR = """\
    import torch

    def batches(n):
        for i in range(n):
            b = torch.full((2,), float(i))
            yield b

    total = 0.0
    for b in batches(3):
        total = total + float(b.sum())
    squares = [v * v for v in range(3)]
"""


def test_a_generator_keeps_its_frame_between_yields(tmp_path: Path) -> None:
    path = write(tmp_path, GENERATOR)
    serials, deltas = as_plain_python(run(path), path)
    # The module, the generator (one frame however often resumed), and up to Python 3.11 the
    # comprehension: 3.12 runs a comprehension inline in its function's frame (PEP 709).
    assert len(serials) == (3 if sys.version_info < (3, 12) else 2)
    generator = deltas[2]
    assert {e.function for e in generator} == {"batches"} and len(generator) == 10
    assert [e.scope.full for e in generator].count(True) == 1  # type: ignore[union-attr]


MODEL = """\
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    for step in range(3):
        opt.zero_grad()
        loss = net(x).pow(2).mean()
        loss.backward()
        opt.step()
        done = step
"""


def test_a_module_and_an_optimizer_against_torch(tmp_path: Path) -> None:
    tl = run(write(tmp_path, MODEL))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    names = [name for name, _ in net.named_parameters()]
    at_step, after_step = at_line(tl, 12), at_line(tl, 13)
    assert len(at_step) == len(after_step) == 3
    for i in range(3):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        model = fold(tl, at_step[i])["net"]
        assert model.role == "module" and model.type == "Sequential"
        assert [name for name, _ in model.members] == names
        for name, p in net.named_parameters():
            assert values(model.member(name)) == p.tolist()
            assert grad_values(model.member(name)) == p.grad.tolist()  # type: ignore[union-attr]
        opt.step()
        folded = fold(tl, after_step[i])
        optimizer = folded["opt"]
        assert optimizer.role == "optimizer" and optimizer.type == "Adam"
        for j, p in enumerate(net.parameters()):
            state = optimizer.member(f"state[0.{j}]")
            assert state is not None
            assert values(state.member("exp_avg")) == opt.state[p]["exp_avg"].tolist()
            assert values(state.member("exp_avg_sq")) == opt.state[p]["exp_avg_sq"].tolist()
            assert values(folded["net"].member(names[j])) == p.tolist()
        group = optimizer.member("param_groups[0]")
        assert group is not None and group.member("lr") is not None
        assert group.member("lr").text == repr(opt.param_groups[0]["lr"])  # type: ignore[union-attr]
    # Imports are not variables: `nn` and `torch` are modules.
    assert "nn" not in folded and "torch" not in folded and set(folded) >= {"net", "opt", "x", "loss", "step"}


NON_LEAVES = """\
    import sys
    import torch
    import warnings
    warnings.simplefilter("always")
    print("torch imported", file=sys.stderr)

    x = torch.ones(3, requires_grad=True)
    y = x * 2
    kept = x * 3
    kept.retain_grad()
    z = (y + kept).sum()
    pair = [y, {"z": z}]
    z.backward()
    done = True
"""


STDERR_UNDER_GRADTUI = """\
import json, sys
from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from tests.helpers import stderr
out = {}
for path in sys.argv[1:]:
    session = Session(load_script(path))
    session.start()
    assert session.join(60) and session.timeline.status == "finished"
    out[path] = stderr(session.timeline)
print(json.dumps(out))
"""


def test_no_warning_reaches_the_scripts_stderr(tmp_path: Path) -> None:
    """A script's stderr under gradtui is plain python's: the engine never reads ``.grad`` of a non-leaf.

    In a process of its own: pytest records warnings instead of printing them.
    """
    chain = SCENARIOS / "mean_chain.py"
    non_leaves = write(tmp_path, NON_LEAVES)
    done = subprocess.run([sys.executable, "-c", STDERR_UNDER_GRADTUI, str(chain), str(non_leaves)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    under_gradtui = json.loads(done.stdout)
    plain = plain_python(chain).stderr
    assert plain.count("UserWarning: The .grad attribute of a Tensor that is not a leaf") == 2
    # From the script's first warning on: where numpy is missing, importing torch warns first.
    assert under_gradtui[str(chain)] == plain[plain.index(str(chain)):]
    # The script reads no .grad of a non-leaf and shows every warning: only its own line is printed.
    assert under_gradtui[str(non_leaves)] == "torch imported\n"
    tl = run(non_leaves)
    last = fold(tl, lines(tl)[-1])
    assert grad_values(last["y"]) is None  # a non-leaf: .grad is never populated
    assert grad_values(last["kept"]) == [1.0, 1.0, 1.0]  # retain_grad() kept it
    assert grad_values(last["x"]) == [5.0, 5.0, 5.0]


def test_no_variables_leaves_scope_none(tmp_path: Path) -> None:
    path = write(tmp_path, MODEL)
    assert all(e.scope is None for e in lines(run(path, variables=False)))
    assert all(e.scope is not None for e in lines(run(path)))


@pytest.mark.parametrize("flag", [False, True])
def test_the_no_variables_flag_reaches_the_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   flag: bool) -> None:
    from gradtui import cli, headless

    given: list[bool] = []

    class Spy(Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            given.append(kwargs["variables"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(headless, "Session", Spy)
    out = tmp_path / "run.db"
    argv = ["--record", str(out), *(["--no-variables"] if flag else []), str(write(tmp_path, "x = 1\n"))]
    assert cli.main(argv) == 0
    assert given == [not flag]


def test_a_failing_look_never_fails_the_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradtui.engine.variables import FrameVariables

    def broken(self: FrameVariables, frame: FrameType) -> None:
        raise RuntimeError("cannot look")

    monkeypatch.setattr(FrameVariables, "look", broken)
    path = write(tmp_path, "x = 1\ny = x + 1\nprint(y)\n")
    tl = run(path)  # finished, as under plain python
    assert [e.line for e in lines(tl)] == [1, 2, 3] and all(e.scope is None for e in lines(tl))
    assert "".join(e.text for e in tl.events if e.kind == "output") == plain_python(path).stdout == "2\n"


def test_an_optimizers_groups_reused_only_while_their_hyperparameters_are_the_same() -> None:
    """The described groups are kept by value: each change of a group reads as torch holds it."""
    from gradtui.engine.capture import TensorCapture
    from gradtui.engine.var_values import Describer

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    kept = Describer(TensorCapture())

    def lr_text() -> str:
        group = kept.optimizer(opt).member("param_groups[0]")
        assert group is not None
        return "".join(v.text for k, v in group.members if k == "lr")

    seen = []
    for lr in (0.1, 0.05, 0.0, -0.0, 1, 1.0, True, 0.1):
        opt.param_groups[0]["lr"] = lr
        seen.append(lr_text())
        assert kept.optimizer(opt) == Describer(TensorCapture()).optimizer(opt)
    assert seen == [repr(v) for v in (0.1, 0.05, 0.0, -0.0, 1, 1.0, True, 0.1)]
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))], "lr": 0.3})
    assert kept.optimizer(opt) == Describer(TensorCapture()).optimizer(opt)
    assert kept.optimizer(opt).member("param_groups[1]") is not None


GROWING = """\
    import torch

    outputs = []
    losses = {}
    for i in range(40):
        h = torch.full((2,), float(i))
        outputs.append(h * 2)
        losses[i] = float(i) / 4
    del outputs[3:]
"""


def test_a_list_and_a_dict_growing_past_what_is_shown(tmp_path: Path) -> None:
    """Past MAX_MEMBERS items only the count changes: each line still reads as plain Python holds them."""
    from gradtui.model.variables import MAX_MEMBERS

    path = write(tmp_path, GROWING)
    expected: list[tuple[int, Any, Any]] = []  # per line event: (line, outputs, losses) as shown

    def shown(value: Any) -> Any:
        if isinstance(value, list):
            return (len(value), [t.tolist() for t in value[:MAX_MEMBERS]])
        if isinstance(value, dict):
            return (len(value), [repr(v) for v in list(value.values())[:MAX_MEMBERS]])
        return None

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            expected.append((frame.f_lineno, shown(frame.f_locals.get("outputs")), shown(frame.f_locals.get("losses"))))
        return local

    code = compile(path.read_text(), str(path), "exec")
    sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename == str(path) else None)
    try:
        exec(code, {"__name__": "__main__", "__file__": str(path)})
    finally:
        sys.settrace(None)

    def read(var: Var | None) -> Any:
        if var is None:
            return None
        n = int(var.text.split()[0])
        assert var.length == (n if n > MAX_MEMBERS else None)
        items = [m.tensor.value.values if m.tensor is not None else m.text for _, m in var.members]
        return (n, items)

    got = []
    for event in lines(tl := run(path)):
        held = fold(tl, event)
        got.append((event.line, read(held.get("outputs")), read(held.get("losses"))))
    assert len(got) == len(expected) > 100
    assert got == expected
    assert expected[-1][1][0] == 40 and expected[-1][2][0] == 40  # the lists grew well past what is shown
