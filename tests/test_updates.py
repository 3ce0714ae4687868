"""Parameters updated by hand (``a -= lr * a.grad``): recorded, with the values torch computed.

The expected values come from the same loops run directly in torch in this process, and
from ``before - lr * grad`` computed by torch from the recorded gradient, never from an
earlier run of gradtui. The real-corpus scripts are run shortened (fewer iterations), with
the substitution checked so that a changed script fails loudly instead of silently.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.model import codec
from gradtui.model.events import BackwardDone, Change, Owner, ParamsUpdated, StepTaken
from gradtui.model.formatting import format_number, summary
from gradtui.model.sentences import describe
from gradtui.model.stops import EventStop, parse_stop, reason
from gradtui.model.tensors import TensorSummary
from gradtui.model.updates import lines_text, update_group, update_rows
from gradtui.ui.view import View
from gradtui.ui.widgets.params import render_params
from tests.apptools import _plain, live_app, panel_text, press, started
from tests.conftest import REPO, SCRIPTS
from tests.helpers import flat, of_kind

REAL = SCRIPTS / "real"
LR = 1e-6


def shortened(tmp_path: Path, script: Path, loop: str, short: str) -> Path:
    source = script.read_text()
    assert source.count(loop) == 1, f"{script.name} no longer has {loop!r}"
    path = tmp_path / script.name
    path.write_text(source.replace(loop, short))
    return path


def write(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def updates(tl) -> list[ParamsUpdated]:  # type: ignore[no-untyped-def]
    return of_kind(tl, "update")


def only(event: ParamsUpdated) -> tuple[str, Change]:
    (item,) = event.params.items()
    return item


# ---------------------------------------------------------------- the tutorials' loops


def sum_regression_direct(iterations: int) -> list[list[tuple[float, float]]]:
    """tests/scripts/real/sum_regression.py run plainly: (before, after) of a, b, c, d per iteration."""
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=torch.float)
    y = torch.sin(x)
    torch.manual_seed(0)
    a, b, c, d = (torch.randn((), dtype=torch.float, requires_grad=True) for _ in range(4))
    out = []
    for _ in range(iterations):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        step = []
        with torch.no_grad():
            for p in (a, b, c, d):
                before = p.item()
                p -= LR * p.grad
                step.append((before, p.item()))
            for p in (a, b, c, d):
                p.grad = None
        out.append(step)
    return out


def test_sum_regression_updates_are_torch_values(run_script, tmp_path) -> None:
    iterations = 30
    script = shortened(tmp_path, REAL / "sum_regression.py", "range(2000)", f"range({iterations})")
    tl = run_script(script)
    assert tl.status == "finished"
    expected = sum_regression_direct(iterations)
    recorded = updates(tl)
    assert len(recorded) == 4 * iterations
    assert {e.line for e in recorded} == {26, 27, 28, 29}
    for i, event in enumerate(recorded):
        name, change = only(event)
        assert name == "abcd"[i % 4] and event.op == "-=" and not event.grad_enabled and not event.through_data
        assert (flat(change.before), flat(change.after)) == ([expected[i // 4][i % 4][0]], [expected[i // 4][i % 4][1]])

    # after == before - lr * grad, torch's float32 arithmetic on the recorded gradient.
    events = tl.events
    for event in recorded:
        backward = next(e for e in reversed(events[: event.seq]) if isinstance(e, BackwardDone))
        name, change = only(event)
        grad = torch.tensor(flat(backward.grads[name].after)[0])
        before = torch.tensor(flat(change.before)[0])
        assert flat(change.after)[0] == (before - LR * grad).item()


def manual_update_loop_direct(iterations: int) -> list[tuple[list[float], float]]:
    """tests/scripts/real/manual_update_loop.py run plainly: (weight, bias) after each iteration."""
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    loss_fn = torch.nn.MSELoss(reduction="sum")
    out = []
    for _ in range(iterations):
        loss = loss_fn(model(xx), y)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= LR * param.grad
        out.append((model[0].weight.flatten().tolist(), model[0].bias.item()))
    return out


def test_manual_update_loop_over_model_parameters(run_script, tmp_path) -> None:
    iterations = 12
    script = shortened(tmp_path, REAL / "manual_update_loop.py", "range(300)", f"range({iterations})")
    tl = run_script(script)
    assert tl.status == "finished"
    expected = manual_update_loop_direct(iterations)
    recorded = updates(tl)
    assert len(recorded) == 2 * iterations and {e.line for e in recorded} == {29}
    for i in range(iterations):
        weight, bias = recorded[2 * i], recorded[2 * i + 1]  # model.parameters() order
        assert flat(only(weight)[1].after) == expected[i][0]
        assert flat(only(bias)[1].after) == [expected[i][1]]
        if i:
            assert flat(only(weight)[1].before) == expected[i - 1][0]
    # The Parameters panel's group: one iteration, each tensor its own row even when the
    # script calls both by one name (``param``).
    rows = update_rows(update_group(tl.events, len(tl.events)))
    assert [flat(r.change.after) for r in rows] == [expected[-1][0], [expected[-1][1]]]


# ---------------------------------------------------------------- every form of update


FORMS = """\
    import torch
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    v = torch.tensor(0.5, requires_grad=True)
    (w * w).sum().add(v * 3).backward()
    with torch.no_grad():
        w.sub_(0.1 * w.grad)
        w.add_(w.grad, alpha=-0.1)
        w.mul_(0.5)
        w.copy_(w + 1)
        w[0] = 7.0
        v /= 2
        torch._foreach_add_([w, v], 1.0)
    print(w.tolist(), v.item())
"""


def forms_direct() -> list[list[float]]:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    v = torch.tensor(0.5, requires_grad=True)
    (w * w).sum().add(v * 3).backward()
    seen = [w.tolist()]
    with torch.no_grad():
        for update in (lambda: w.sub_(0.1 * w.grad), lambda: w.add_(w.grad, alpha=-0.1), lambda: w.mul_(0.5),
                       lambda: w.copy_(w + 1), lambda: w.__setitem__(0, 7.0)):
            update()
            seen.append(w.tolist())
        v /= 2
        seen.append([v.item()])
        torch._foreach_add_([w, v], 1.0)
        seen.append(w.tolist() + [v.item()])
    return seen


def test_method_operator_item_and_foreach_updates(run_script, tmp_path) -> None:
    tl = run_script(write(tmp_path, FORMS))
    expected = forms_direct()
    recorded = updates(tl)
    assert [e.op for e in recorded] == ["sub_", "add_", "mul_", "copy_", "[]=", "/=", "_foreach_add_"]
    assert [e.line for e in recorded] == [6, 7, 8, 9, 10, 11, 12]
    for i, event in enumerate(recorded[:5]):
        change = event.params["w"]
        assert (flat(change.before), flat(change.after)) == (expected[i], expected[i + 1])
    assert flat(recorded[5].params["v"].before) == [0.5] and flat(recorded[5].params["v"].after) == expected[6]
    foreach = recorded[6].params
    assert list(foreach) == ["w", "v"]
    assert flat(foreach["w"].after) + flat(foreach["v"].after) == expected[7]
    # Nothing else became an op event: the update is the one record of each write.
    assert not [e for e in of_kind(tl, "op") if e.op in ("sub_", "add_", "mul_", "copy_", "div_")]


DATA_WRITES = """\
    import torch
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    w.data -= 0.1 * w.grad
    w.data.sub_(w.grad)
    opt.step()
    print(w.tolist())
"""


def test_writes_through_data_are_updates_with_fresh_values(run_script, tmp_path) -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    start = w.tolist()
    w.data -= 0.1 * w.grad
    first = w.tolist()
    w.data.sub_(w.grad)
    second = w.tolist()
    opt.step()

    tl = run_script(write(tmp_path, DATA_WRITES))
    one, two = updates(tl)
    assert (one.op, one.line, two.op, two.line) == ("-=", 5, "sub_", 6)
    assert one.through_data and two.through_data and one.grad_enabled and two.grad_enabled
    assert one.args[0] == "w.data"
    assert (flat(one.params["w"].before), flat(one.params["w"].after)) == (start, first)
    assert (flat(two.params["w"].before), flat(two.params["w"].after)) == (first, second)
    # .data writes leave _version alone: the step must still see the value they left.
    (step,) = of_kind(tl, "step")
    assert flat(step.params["w"].before) == second and flat(step.params["w"].after) == w.tolist()


NOT_UPDATES = """\
    import torch
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).sum().backward()
    opt.step()
    opt.zero_grad(set_to_none=False)
    x = torch.zeros(2)
    x.add_(1)
    w.grad.add_(1)
    w.requires_grad_(True)
    h = (w * 2).add_(1)
    w.sub_(1)
"""


def test_steps_grads_other_tensors_and_refused_writes_are_not_updates(run_script, tmp_path) -> None:
    tl = run_script(write(tmp_path, NOT_UPDATES))
    assert updates(tl) == []
    # The last line writes a leaf that requires grad with grad mode on: torch refuses.
    assert tl.status == "error" and "leaf Variable that requires grad" in of_kind(tl, "error")[0].message
    assert [e.op for e in of_kind(tl, "op") if e.op.endswith("_")] == ["add_", "add_", "requires_grad_", "add_"]


def test_a_custom_optimizer_writing_in_place_makes_steps_not_updates(run_script) -> None:
    tl = run_script(SCRIPTS / "custom_optimizer.py")
    assert of_kind(tl, "step") and updates(tl) == []


# ---------------------------------------------------------------- stopping, saving, showing


def test_next_event_stops_on_each_update(tmp_path) -> None:
    session = Session(load_script(str(write(tmp_path, FORMS))), start_paused=True)
    session.start()
    try:
        kinds = []
        while True:
            assert session.wait(30)
            if session.finished:
                break
            kinds.append(session.paused_at.kind if session.paused_at else None)
            session.next_event()
        assert kinds[0] == "line" and kinds[1:] == ["backward"] + ["update"] * 7
    finally:
        session.stop()
        assert session.join(30)


def test_update_events_survive_a_save_and_load(run_script, tmp_path) -> None:
    tl = run_script(write(tmp_path, DATA_WRITES))
    path = tmp_path / "t.json"
    codec.save(tl, path)
    loaded = codec.load(path)
    assert updates(loaded) == updates(tl) and len(updates(loaded)) == 2
    nan = ParamsUpdated(seq=0, file="s.py", line=3, op="mul_", args=("w", "nan"), grad_enabled=False,
                        params={"w": Change(TensorSummary((), "float32", True, None, values=1.0),
                                            TensorSummary((), "float32", True, None, values=math.nan))},
                        through_data=False)
    assert codec.event_from_json(codec.event_to_json(nan), 0) == nan


def _scalar(x: float) -> TensorSummary:
    return TensorSummary((), "float32", True, None, values=x)


def _update(seq: int, name: str, before: float, after: float, line: int = 5, op: str = "-=") -> ParamsUpdated:
    return ParamsUpdated(seq=seq, file="s.py", line=line, op=op, args=(name, "tensor#1"), grad_enabled=False,
                         params={name: Change(_scalar(before), _scalar(after))}, through_data=False)


def test_update_group_is_one_iteration_and_merges_a_parameter_updated_twice() -> None:
    backward = BackwardDone(seq=0, file="s.py", line=4, root="loss", loss=1.0, grads={}, loss_scale=None, graph=None)
    events = [
        backward,
        _update(1, "a", 1.0, 0.9, line=5, op="mul_"),
        _update(2, "a", 0.9, 0.8, line=6),
        _update(3, "param", 5.0, 4.0, line=7),
        _update(4, "param", 2.0, 1.5, line=7),  # another tensor, also called param
        BackwardDone(seq=5, file="s.py", line=4, root="loss", loss=1.0, grads={}, loss_scale=None, graph=None),
        _update(6, "a", 0.8, 0.7),
    ]
    assert update_group(events, 0) == []
    group = update_group(events, 5)  # a backward after the group leaves it the latest
    assert [e.seq for e in group] == [1, 2, 3, 4] and lines_text(group) == "lines 5–7"
    rows = update_rows(group)
    assert [(r.name, flat(r.change.before), flat(r.change.after), r.ops) for r in rows] == [
        ("a", [1.0], [0.8], (("mul_", 5), ("-=", 6))),
        ("param", [5.0], [4.0], (("-=", 7),)),
        ("param", [2.0], [1.5], (("-=", 7),)),
    ]
    assert [e.seq for e in update_group(events, 6)] == [6] and lines_text(update_group(events, 6)) == "line 5"


def test_sentence_trace_line_and_stops() -> None:
    event = _update(0, "a", 0.5214, 0.519)
    assert describe([event], 0) == "a -= …: a 0.5214 → 0.519 (updated by hand under no_grad)"
    assert summary(event) == "update    a -= tensor#1  a 0.5214 → 0.519  [no_grad]"
    assert parse_stop("update") == EventStop("update")
    assert reason(EventStop("update"), event) is not None
    assert reason(EventStop("step"), event) is None
    bad = _update(0, "a", 0.5, math.inf)
    assert reason(EventStop("nan"), bad) == "NaN or inf in the value of a"


def test_trace_prints_update_lines(tmp_path) -> None:
    script = write(tmp_path, FORMS)
    r = subprocess.run([sys.executable, "-m", "gradtui", "--trace", str(script)], cwd=REPO, capture_output=True,
                       text=True, encoding="utf-8", timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.split()[1:2] == ["update"]]
    expected = forms_direct()
    assert [line.split()[0] for line in lines] == ["L6", "L7", "L8", "L9", "L10", "L11", "L12"]
    first = re.fullmatch(r"L6\s+update\s+(\S+)  (.*)  \[no_grad\]", lines[0])
    assert first is not None and first.group(1).startswith("w.sub_(")
    assert first.group(2) == f"w [1, 2, 3] → [{', '.join(format_number(v) for v in expected[1])}]"
    assert "w.mul_(0.5)" in lines[2] and "w[0] = 7" in lines[4] and "v /= 2" in lines[5]
    assert all(line.endswith("  [no_grad]") for line in lines)


async def test_parameters_panel_shows_an_iteration_of_updates_by_hand() -> None:
    (first, *_), *_ = sum_regression_direct(1)
    app = live_app(REAL / "sum_regression.py")
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        assert "no zero_grad() or step() yet" in panel_text(app, "#params")
        await press(pilot, *"eeeee")  # the backward, then a, b, c and d
        event = app.timeline.events[app.cursor]
        assert isinstance(event, ParamsUpdated) and event.line == 29
        params = panel_text(app, "#params")
        assert "updated by hand · lines 26–29" in params
        row = next(line for line in params.splitlines() if line.split()[:1] == ["a"])
        assert row.split()[1:3] == [format_number(first[0]), format_number(first[1])]
        assert [line.split()[0] for line in params.splitlines() if line.split()[:1] in (["a"], ["b"], ["c"], ["d"])] \
            == ["a", "b", "c", "d"]
        status = panel_text(app, "#status")
        assert "d -= …: d" in status and "(updated by hand under no_grad)" in status
        await press(pilot, "e")  # the next backward: the panel keeps the last iteration's updates
        assert isinstance(app.timeline.events[app.cursor], BackwardDone)
        assert "updated by hand · lines 26–29" in panel_text(app, "#params")
        await pilot.press("q")
    assert app.engine is not None and app.engine.join(10)


def test_a_step_after_updates_is_what_the_panel_shows() -> None:
    step = StepTaken(seq=1, file="s.py", line=9, params={"w": Change(_scalar(1.0), _scalar(0.6))}, state={},
                     optimizer=Owner("", ""), hyperparams=())
    events = [_update(0, "w", 2.0, 1.0), step]
    assert "updated by hand · line 5" in _plain(render_params(View(events=events, cursor=0)))
    text = _plain(render_params(View(events=events, cursor=1)))
    assert ".step() · line 9" in text and "updated by hand" not in text
