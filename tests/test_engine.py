"""The engine beyond the tutorials: running scripts as Python would, naming, the
controller's stepping commands, custom autograd Functions and optimizers, and capture
of large tensors within bounded memory.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import torch

from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from tests.conftest import SCENARIOS, SCRIPTS
from tests.helpers import flat, grad_changes, of_kind, seqs_ok, stdout

WAIT = 30.0


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


# ------------------------------------------------------------------ running like python


def test_script_runs_as_main_with_its_argv(run_script):
    tl = run_script(SCRIPTS / "argv_echo.py", "a1", "--b")
    lines = stdout(tl).splitlines()
    assert lines[0].endswith("'a1', '--b']") and "argv_echo.py" in lines[0]
    assert lines[1:] == ["__main__", "argv_echo.py"]
    assert tl.argv[1:] == ["a1", "--b"]


def test_sibling_module_ops_are_attributed_to_that_file(run_script):
    tl = run_script(SCRIPTS / "sibling_import.py")
    (mul,) = [e for e in of_kind(tl, "op") if e.op == "mul"]
    assert mul.file == "helpers_mod.py"
    assert grad_changes(tl, "backward", "w") == [(None, [6.0, -2.0])]  # d/dw sum(w*w) = 2w
    assert {e.file for e in of_kind(tl, "line")} == {"sibling_import.py", "helpers_mod.py"}


def test_plain_python_script_without_torch(run_script):
    tl = run_script(SCRIPTS / "no_torch.py")
    assert tl.status == "finished"
    assert stdout(tl) == "step 0\nstep 1\nstep 2\n"
    assert [e.text for e in of_kind(tl, "output")] == ["step 0\n", "step 1\n", "step 2\n"]


def test_sys_exit_code_is_kept(run_script):
    tl = run_script(SCRIPTS / "exits.py")
    assert (tl.status, tl.exit_code) == ("exited", 3)
    assert stdout(tl) == "bye\n"


def test_error_is_located_in_the_script_and_earlier_events_kept(run_script):
    tl = run_script(SCRIPTS / "raises.py")
    source = (SCRIPTS / "raises.py").read_text().splitlines()
    raise_line = next(i for i, text in enumerate(source, 1) if "# raises here" in text)
    assert tl.status == "error" and tl.exit_code == 1
    assert (tl.error.type, tl.error.message, tl.error.line) == ("RuntimeError", "boom from the script", raise_line)
    err = tl.events[-1]
    assert err.kind == "error" and err.line == raise_line
    assert "raises.py" in err.traceback and "gradtui" not in err.traceback
    assert err.traceback.rstrip().endswith("RuntimeError: boom from the script")
    assert "before boom" in stdout(tl)


def test_error_inside_a_torch_op_has_no_gradtui_frames(run_script, tmp_path):
    script = write(tmp_path, "bad_shapes.py", """\
        import torch
        a = torch.ones(2, 3)
        b = torch.ones(4, 5)
        c = a @ b
    """)
    tl = run_script(script)
    assert tl.status == "error" and tl.error.line == 4 and tl.error.type == "RuntimeError"
    assert "gradtui" not in tl.events[-1].traceback


# ------------------------------------------------------------------ ops and names


def test_user_defined_function_is_one_op(run_script):
    tl = run_script(SCRIPTS / "cube_function.py")
    (cube,) = [e for e in of_kind(tl, "op") if e.op == "Cube"]
    assert cube.grad_fn == "CubeBackward" and cube.output.values == [8.0] and cube.args == ("x",)
    # Inside forward the op runs with grad mode off, as torch runs it.
    inner = [e for e in of_kind(tl, "op") if e.op == "pow"]
    assert inner and not inner[0].grad_enabled
    assert grad_changes(tl, "backward", "x") == [(None, [12.0])]  # 3 * 2^2


def test_module_parameters_are_named_by_path(run_script):
    tl = run_script(SCRIPTS / "mlp_adam.py")
    names = ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
    for event in of_kind(tl, "backward"):
        assert list(event.grads) == names
    step = of_kind(tl, "step")[0]
    assert list(step.params) == names and step.optimizer.cls == "Adam"
    linears = [e for e in of_kind(tl, "op") if e.op == "linear"]
    assert linears[0].args == ("inputs", "net.0.weight", "net.0.bias")
    # No op from building the model (weight init inside nn.Linear.__init__).
    assert not [e for e in of_kind(tl, "op") if e.op in ("empty", "kaiming_uniform_", "uniform_")]

    # The same training run directly: losses and parameters after each step agree.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    inputs, targets = torch.randn(8, 3), torch.randn(8, 1)
    losses, afters = [], []
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(inputs), targets)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        afters.append([p.detach().reshape(-1).tolist() for p in net.parameters()])
    assert [e.loss for e in of_kind(tl, "backward")] == losses
    assert [[flat(s.params[n].after) for n in names] for s in of_kind(tl, "step")] == afters


def test_retain_graph_gradient_and_autograd_backward(run_script):
    tl = run_script(SCRIPTS / "retain_graph.py")
    assert grad_changes(tl, "backward", "w") == [
        (None, [2.0, 4.0]),        # loss.backward(retain_graph=True)
        ([2.0, 4.0], [4.0, 8.0]),  # the same graph again
        ([4.0, 8.0], [7.0, 11.0]), # v.backward(gradient=[1, 1]) with v = 3w
        ([7.0, 11.0], [9.0, 15.0]),  # torch.autograd.backward([sum(w*w)])
    ]
    losses = [e.loss for e in of_kind(tl, "backward")]
    assert losses[:2] == [5.0, 5.0] and losses[2] is None


def test_custom_optimizer_and_module_zero_grad(run_script):
    tl = run_script(SCRIPTS / "custom_optimizer.py")
    zero = of_kind(tl, "zero_grad")
    # One event per call, although PlainSGD.zero_grad calls Optimizer.zero_grad.
    assert [(e.optimizer.name, e.optimizer.cls) for e in zero] == [("opt", "PlainSGD")] * 3 + [("lin", "Linear")]
    assert grad_changes(tl, "zero_grad", "p")[1] == ([2.0, -2.0], [0.0, 0.0])  # set_to_none=False
    assert grad_changes(tl, "zero_grad", "lin.weight") == [([1.0, 1.0], None)]
    steps = of_kind(tl, "step")
    assert [s.optimizer.cls for s in steps] == ["PlainSGD", "PlainSGD"]
    assert [flat(s.params["p"].after) for s in steps] == [torch.tensor([0.6, -0.6]).tolist(),
                                                            torch.tensor([0.36, -0.36]).tolist()]
    # The add_ inside PlainSGD.step is the optimizer's work, not an op of the script.
    assert not [e for e in of_kind(tl, "op") if e.op == "add_"]


def test_fallback_names_are_stable(run_script):
    tl = run_script(SCENARIOS / "mean_chain.py")
    (pow_op,) = [e for e in of_kind(tl, "op") if e.op == "pow"]
    (mul_op,) = [e for e in of_kind(tl, "op") if e.op == "mul"]
    assert pow_op.args == ("y", "2")
    assert mul_op.args[0].startswith("tensor#") and mul_op.args[1] == "3"


# ------------------------------------------------------------------ values and memory


def test_large_tensors_keep_statistics_equal_to_torch(run_script, tmp_path):
    script = write(tmp_path, "big.py", """\
        import torch
        torch.manual_seed(0)
        w = torch.randn(50, 40)
        w[0, 0] = float('nan')
        w[1, 1] = float('inf')
        v = w * 2
    """)
    tl = run_script(script, max_values=16)
    (mul,) = [e for e in of_kind(tl, "op") if e.op == "mul"]
    out = mul.output
    assert out.values is None and out.shape == (50, 40)
    torch.manual_seed(0)
    ref = torch.randn(50, 40)
    ref[0, 0], ref[1, 1] = float("nan"), float("inf")
    ref = (ref * 2).double()
    finite = ref[torch.isfinite(ref)]
    stats = out.stats
    assert (stats.numel, stats.nan, stats.inf) == (2000, 1, 1)
    assert stats.min == finite.min().item() and stats.max == finite.max().item()
    assert abs(stats.mean - finite.mean().item()) < 1e-12
    assert abs(stats.std - finite.std().item()) < 1e-12
    assert abs(stats.norm - finite.norm().item()) < 1e-9


def test_max_values_option(run_script):
    tl = run_script(SCENARIOS / "mean_chain.py", max_values=2)
    (bw,) = of_kind(tl, "backward")
    after = bw.grads["x"].after
    assert after.values is None and after.stats.mean == 4.5 and after.stats.numel == 4


def test_unchanged_tensors_are_not_copied_again(run_script):
    tl = run_script(SCENARIOS / "sgd_loop.py")
    steps = of_kind(tl, "step")
    # Copy-on-write: a parameter nobody changed between two steps is the same summary.
    for earlier, later in zip(steps, steps[1:]):
        assert later.params["tensor"].before is earlier.params["tensor"].after


def test_clone_memory_stays_within_budget(tmp_path):
    script = write(tmp_path, "many.py", """\
        import torch
        w = torch.zeros(256, 256)
        for i in range(40):
            w.add_(1.0)
    """)
    budget = 1024 * 1024  # 1 MiB: four 256 KiB clones
    peaks: list[int] = []
    holder: list[Session] = []
    session = Session(load_script(str(script)), budget_bytes=budget,
                      sink=lambda event: peaks.append(holder[0].capture.pending_bytes))
    holder.append(session)
    session.start()
    assert session.join(WAIT)
    adds = [e for e in of_kind(session.timeline, "op") if e.op == "add_"]
    # Past an eighth of the budget a second thread computes statistics; the script's thread
    # helps once the backlog passes the budget, so clones never exceed it.
    assert len(adds) == 40 and max(peaks) <= budget
    # Statistics computed when clones were evicted are still right: w was all i+1.
    assert [e.output.stats.mean for e in adds] == [float(i + 1) for i in range(40)]


def _run_counting_wakes(script: Path, budget: int) -> tuple[Session, int, int]:
    """Run ``script`` with clones budgeted at ``budget``: the session, the most clone bytes
    waiting at any event, and how often the statistics thread was asked to start."""
    peaks: list[int] = []
    holder: list[Session] = []
    session = Session(load_script(str(script)), budget_bytes=budget,
                      sink=lambda event: peaks.append(holder[0].capture.pending_bytes))
    holder.append(session)
    capture = session.capture
    start_thread = capture._ensure_materializer
    starts: list[bool] = []

    def counted() -> None:
        starts.append(True)
        start_thread()

    capture._ensure_materializer = counted  # type: ignore[method-assign]
    session.start()
    assert session.join(WAIT)
    return session, max(peaks), len(starts)


def test_small_clones_wait_for_the_writers_batches_and_stay_within_budget(tmp_path):
    """Clones under ``POOLED_BYTES`` do not wake the statistics thread before the whole
    budget is waiting (the recording's batches compute them); past it, the script's thread
    computes, so they never exceed the budget either."""
    script = write(tmp_path, "small.py", """\
        import torch
        w = torch.zeros(64, 64)
        for i in range(40):
            w.add_(1.0)
    """)
    for budget, woken in ((1024 * 1024, False), (64 * 1024, True)):  # 64 and 4 clones of 16 KiB
        session, peak, starts = _run_counting_wakes(script, budget)
        adds = [e for e in of_kind(session.timeline, "op") if e.op == "add_"]
        assert len(adds) == 40 and peak <= budget
        assert (starts > 0) is woken, budget
        assert [e.output.stats.mean for e in adds] == [float(i + 1) for i in range(40)]


# ------------------------------------------------------------------ the controller


def _paused_session(path: Path) -> Session:
    session = Session(load_script(str(path)), start_paused=True)
    session.start()
    assert session.wait(WAIT)
    return session


def test_starts_paused_and_steps_one_event_at_a_time():
    session = _paused_session(SCENARIOS / "accumulation.py")
    try:
        first = session.paused_at
        assert first is not None and first.seq == 0 and first.kind == "line"
        session.step_op()
        assert session.wait(WAIT)
        assert session.paused_at.seq == 1
        assert len(session.timeline.events) == 2
    finally:
        session.stop()
        assert session.join(WAIT)
    assert session.timeline.status == "interrupted"


def test_next_line_and_next_event():
    session = _paused_session(SCENARIOS / "accumulation.py")
    try:
        session.next_event()
        assert session.wait(WAIT)
        event = session.paused_at
        assert event.kind == "backward" and flat(event.grads["theta"].after) == [2.0]
        session.next_line()
        assert session.wait(WAIT)
        assert session.paused_at.kind == "line" and session.paused_at.line == event.line + 1
        session.next_event()
        assert session.wait(WAIT)
        assert flat(session.paused_at.grads["theta"].after) == [4.0]
    finally:
        session.stop()
        session.join(WAIT)


def test_continue_to_breakpoint_then_to_the_end():
    path = SCENARIOS / "accumulation.py"
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == "optimiser.zero_grad()")
    session = _paused_session(path)
    session.continue_({("accumulation.py", line)})
    assert session.wait(WAIT)
    assert (session.paused_at.kind, session.paused_at.line) == ("line", line)
    backwards = of_kind(session.timeline, "backward")
    assert flat(backwards[-1].grads["theta"].after) == [8.0]
    session.continue_()
    assert session.join(WAIT)
    assert session.timeline.status == "finished" and seqs_ok(session.timeline)


def test_stop_ends_a_script_that_never_ends(tmp_path):
    script = write(tmp_path, "forever.py", """\
        import torch
        x = torch.ones(2)
        while True:
            x = x * 1.0
    """)
    session = Session(load_script(str(script)))
    session.start()
    assert not session.join(0.5)
    session.stop()
    assert session.join(WAIT)
    assert session.timeline.status == "interrupted" and session.timeline.exit_code == 130
    assert len(of_kind(session.timeline, "op")) > 10


def test_script_except_exception_cannot_swallow_stop(tmp_path):
    script = write(tmp_path, "stubborn.py", """\
        while True:
            try:
                x = 1
            except Exception:
                pass
    """)
    session = Session(load_script(str(script)))
    session.start()
    session.stop()
    assert session.join(WAIT)
    assert session.timeline.status == "interrupted"


def test_recording_resumes_after_a_step_that_raised(run_script, tmp_path):
    script = write(tmp_path, "bad_step.py", """\
        import torch

        class Faulty(torch.optim.SGD):
            def step(self, closure=None):
                raise ValueError("no step today")

        w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        opt = Faulty([w], lr=0.1)
        (w * w).sum().backward()
        try:
            opt.step()
        except ValueError:
            pass
        after = w * 3
        real = torch.optim.SGD([w], lr=0.1)
        real.step()
    """)
    tl = run_script(script)
    assert tl.status == "finished"
    # The op after the failed step is recorded, and so is the next real step.
    assert [e.args for e in of_kind(tl, "op") if e.op == "mul"][-1] == ("w", "3")
    (step,) = of_kind(tl, "step")
    assert step.optimizer.name == "real"
    assert flat(step.params["w"].after) == torch.tensor([1.0 - 0.1 * 2.0, 2.0 - 0.1 * 4.0]).tolist()
