"""A module's or optimizer's value refreshed where only its tensors changed (``Refreshed``).

Each refresh is checked against torch run directly (every parameter's values, ``.grad``
and ``_version``, every optimizer state tensor), and against describing the value
afresh; changes a refresh cannot carry (a new parameter, ``eval()``, a new learning
rate) must be described afresh. A recording holds full values only.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import torch

from gradtui.engine.capture import TensorCapture
from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.engine.var_values import Describer
from gradtui.model import scopes
from gradtui.model.events import LineReached
from gradtui.model.store.reader import Recording
from gradtui.model.variables import Refreshed, Var, resolved


def _model() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.Tensor]:
    torch.manual_seed(0)
    # A buffer as well as parameters (batch norm's running statistics need the op mode: see below).
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    net.register_buffer("seen", torch.zeros(()))
    return net, torch.optim.Adam(net.parameters(), lr=0.1), torch.randn(6, 3)


def _refresh(describer: Describer, value: Any, template: Var) -> Var:
    refreshed = describer.refresh(value, template)
    assert isinstance(refreshed, Refreshed), f"{type(value).__name__} was not refreshed"
    assert refreshed.template is template
    return refreshed.var()


def _same_as_torch(var: Var, net: torch.nn.Module) -> None:
    tensors = dict(net.named_parameters()) | dict(net.named_buffers())
    assert [name for name, _ in var.members] == list(tensors)
    for name, member in var.members:
        t, facts = tensors[name], member.tensor
        assert facts is not None
        assert facts.value.values == t.tolist(), name
        assert facts.version == t._version, name
        assert (None if facts.grad is None else facts.grad.values) == (None if t.grad is None else t.grad.tolist())


def test_a_training_step_refreshes_the_model_and_the_optimizer_as_torch_has_them() -> None:
    net, opt, x = _model()
    describer = Describer(TensorCapture())
    module_template, optimizer_template = describer.describe(net), describer.describe(opt)
    for i in range(3):
        opt.zero_grad()
        model = _refresh(describer, net, module_template)
        _same_as_torch(model, net)
        assert all(m.tensor is not None and m.tensor.grad is None for _, m in model.members)
        net(x).pow(2).mean().backward()
        net.seen.add_(1)  # type: ignore[operator]
        model = _refresh(describer, net, module_template)
        _same_as_torch(model, net)
        assert model == describer.describe(net)
        opt.step()
        _same_as_torch(_refresh(describer, net, module_template), net)
        if i == 0:  # the first step made the state: a refresh of the optimizer before it is none
            assert describer.refresh(opt, optimizer_template) is None
            optimizer_template = describer.describe(opt)
            continue
        optimizer = _refresh(describer, opt, optimizer_template)
        assert optimizer == describer.describe(opt)
        for j, p in enumerate(net.parameters()):
            entry = optimizer.member(f"state[0.{j}]")
            assert entry is not None
            for key in ("step", "exp_avg", "exp_avg_sq"):
                facts = entry.member(key).tensor  # type: ignore[union-attr]
                assert facts is not None and facts.value.values == opt.state[p][key].tolist()
                assert facts.version == opt.state[p][key]._version


def test_what_a_refresh_cannot_carry_is_described_afresh() -> None:
    net, opt, x = _model()
    describer = Describer(TensorCapture())
    net(x).pow(2).mean().backward()
    opt.step()
    module_template, optimizer_template = describer.describe(net), describer.describe(opt)
    assert describer.refresh(net, optimizer_template) is None  # another role
    net.eval()
    assert describer.refresh(net, module_template) is None  # the text says eval
    net.train()
    assert describer.refresh(net, module_template) is not None
    net.register_parameter("extra", torch.nn.Parameter(torch.ones(2)))
    assert describer.refresh(net, module_template) is None  # a member more
    renamed = describer.describe(net)
    del net.extra
    net.register_parameter("other", torch.nn.Parameter(torch.ones(2)))
    assert describer.refresh(net, renamed) is None  # as many members, one by another name
    del net.other
    net[2].weight = torch.nn.Parameter(net[2].weight.detach().clone())  # the same name, another tensor
    refreshed = describer.refresh(net, module_template)
    assert refreshed is not None and refreshed.var() == describer.describe(net)
    net[2].weight = None  # type: ignore[assignment]
    assert describer.refresh(net, module_template) is None  # a member fewer
    opt.param_groups[0]["lr"] = 0.05
    assert describer.refresh(opt, optimizer_template) is None  # the group's hyperparameters
    opt.param_groups[0]["lr"] = 0.1
    assert describer.refresh(opt, optimizer_template) is not None
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))]})
    assert describer.refresh(opt, optimizer_template) is None  # a group more


def test_a_non_leaf_tensor_of_a_module_keeps_its_node() -> None:
    """A module holding a computed tensor (a non-leaf buffer): another grad_fn is another node, described afresh."""
    nodes: dict[int, int] = {}
    describer = Describer(TensorCapture(), lambda fn: nodes.setdefault(id(fn), len(nodes) + 1))
    holder = torch.nn.Module()
    base = torch.ones(3, requires_grad=True)
    holder.register_buffer("made", base * 2)
    template = describer.describe(holder)
    assert describer.refresh(holder, template) is not None
    holder.made = base * 3  # type: ignore[assignment]  # another grad_fn: another node
    assert describer.refresh(holder, template) is None


SCRIPT = """\
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(5, 3)
    for step in range(4):
        opt.zero_grad()
        loss = net(x).pow(2).mean()
        loss.backward()
        opt.step()
    done = True
"""


def test_a_recording_holds_full_values_equal_to_the_runs_own(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(SCRIPT))
    db = tmp_path / "run.db"
    session = Session(load_script(str(path)), record=db)
    session.start()
    assert session.join(60) and session.timeline.status == "finished", session.timeline.error
    session.close_recording()
    live = [e for e in session.timeline.events if isinstance(e, LineReached)]
    assert any(isinstance(v, Refreshed) for e in live if e.scope for v in e.scope.changed.values())
    recording = Recording(db)
    try:
        stored = recording.timeline().events
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        x = torch.randn(5, 3)
        checked = 0
        for event in live:
            again = stored[event.seq]
            assert isinstance(again, LineReached) and again.scope is not None and event.scope is not None
            assert all(isinstance(v, Var) for v in again.scope.changed.values())
            assert {n: resolved(v) for n, v in event.scope.changed.items()} == dict(again.scope.changed)
            if event.line == 8:  # loss = ...: the grads of the step before were zeroed
                opt.zero_grad()
                variables, _ = scopes.fold(stored, event.seq, again.scope.frame)
                _same_as_torch(variables["net"], net)
                net(x).pow(2).mean().backward()
                opt.step()
                checked += 1
        assert checked == 4
        variables, _ = scopes.fold(stored, live[-1].seq, live[-1].scope.frame)  # type: ignore[union-attr]
        _same_as_torch(variables["net"], net)
        for j, p in enumerate(net.parameters()):
            momentum = variables["opt"].member(f"state[0.{j}]").member("momentum_buffer")  # type: ignore[union-attr]
            assert momentum is not None and momentum.tensor is not None
            assert momentum.tensor.value.values == opt.state[p]["momentum_buffer"].tolist()
    finally:
        recording.close()


BATCH_NORM = """\
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    stats = net[1].running_mean
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(3):
        x = torch.randn(6, 3)
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    net.eval()
    done = net(x).sum()
"""


def test_batch_norms_running_statistics_as_torch_has_them(tmp_path: Path) -> None:
    """torch writes them without bumping their ``_version``: every line still shows them anew."""
    path = tmp_path / "bn.py"
    path.write_text(textwrap.dedent(BATCH_NORM))
    session = Session(load_script(str(path)))
    session.start()
    assert session.join(60) and session.timeline.status == "finished", session.timeline.error
    events = session.timeline.events
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    checked = 0
    for event in events:
        if isinstance(event, LineReached) and event.line == 8 and event.scope is not None:  # opt.zero_grad()
            x = torch.randn(6, 3)
            if checked:
                variables, _ = scopes.fold(events, event.seq, event.scope.frame)
                _same_as_torch(variables["net"], net)
                stats = variables["stats"].tensor
                assert stats is not None and stats.value.values == net[1].running_mean.tolist()
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
            checked += 1
    assert checked == 3
    last = [e for e in events if isinstance(e, LineReached) and e.scope is not None][-1]
    variables, _ = scopes.fold(events, last.seq, last.scope.frame)  # type: ignore[union-attr]
    _same_as_torch(variables["net"], net)
    running_var = variables["net"].member("1.running_var")
    assert running_var is not None and running_var.tensor is not None
    assert running_var.tensor.value.values == net[1].running_var.tolist()
