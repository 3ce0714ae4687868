"""The two hooks a run's lines can come from record the same timeline, event by event.

On Python 3.12+ the line tracer's events come from ``sys.monitoring``; ``sys.settrace``
(what 3.11 uses, forced here with the private ``_GRADTUI_TRACER=settrace``) is the
reference: each script is recorded both ways in this process and the timelines must be
equal, every event and every kept source. Then what only the monitoring hook can get
wrong: that it is the one in use, that it gives its tool id back, that a debugger
holding the id makes the run fall back to ``sys.settrace``, and that threads other than
the script's are never traced.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from gradtui.engine import tracing
from tests.conftest import SCENARIOS, SCRIPTS
from tests.helpers import of_kind, plain_python, stdout

pytestmark = pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring exists from Python 3.12")

COMPARED = [
    SCENARIOS / "accumulation.py",
    SCENARIOS / "autograd_gd.py",
    SCENARIOS / "gd_plain_python.py",
    SCENARIOS / "lbfgs.py",
    SCENARIOS / "sgd_loop.py",
    SCRIPTS / "control_flow.py",
    SCRIPTS / "cube_function.py",
    SCRIPTS / "hostile_threads.py",
    SCRIPTS / "raises.py",
    SCRIPTS / "sibling_import.py",
    SCRIPTS / "notes_vanishing.py",
]


def _both(run_script, monkeypatch: pytest.MonkeyPatch, script: Path, *args: str):
    monkeypatch.delenv(tracing.FORCE_VARIABLE, raising=False)
    assert tracing.uses_monitoring()
    monitored = _fresh(run_script, script, *args)
    monkeypatch.setenv(tracing.FORCE_VARIABLE, "settrace")
    assert not tracing.uses_monitoring()
    traced = _fresh(run_script, script, *args)
    return monitored, traced


def _fresh(run_script, script: Path, *args: str):
    """One run, with the script's own modules it imported forgotten after: the next run imports
    them again (torch's stay: some of its parts cannot be imported twice)."""
    before = set(sys.modules)
    try:
        return run_script(script, *args, in_memory=True)
    finally:
        for name in set(sys.modules) - before:
            if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(script.parent)):
                del sys.modules[name]


@pytest.mark.parametrize("script", COMPARED, ids=lambda p: p.name)
def test_monitoring_records_what_settrace_records(run_script, monkeypatch, script: Path) -> None:
    monitored, traced = _both(run_script, monkeypatch, script)
    assert of_kind(traced, "line"), "the reference recorded no line at all"
    for i, (m, t) in enumerate(zip(monitored.events, traced.events)):
        assert m == t, f"event {i} differs: monitoring {m!r}, settrace {t!r}"
    assert len(monitored.events) == len(traced.events)
    assert monitored.sources == traced.sources
    assert (monitored.status, monitored.exit_code) == (traced.status, traced.exit_code)


def test_at_the_recursion_limit_only_the_error_differs(run_script, monkeypatch) -> None:
    # settrace's call event for the frame one too deep raises in that frame, at its ``def``
    # line; sys.monitoring's raises in the caller's call, where plain python raises it.
    monitored, traced = _both(run_script, monkeypatch, SCRIPTS / "hostile_recursion.py")
    assert monitored.events[:-1] == traced.events[:-1] and of_kind(traced, "line")
    (m_error,), (t_error,) = of_kind(monitored, "error"), of_kind(traced, "error")
    assert (m_error.type, m_error.message) == (t_error.type, t_error.message) == (
        "RecursionError", "maximum recursion depth exceeded")
    plain = plain_python(SCRIPTS / "hostile_recursion.py")
    assert _last_frame(plain.stderr) == _last_frame(m_error.traceback) == [
        '  File "' + str(SCRIPTS / "hostile_recursion.py") + '", line 5, in f', "    return f(n + 1)"]
    assert m_error.line == 5 and t_error.line == 4


def _last_frame(traceback: str) -> list[str]:
    """The innermost frame of a printed traceback: its ``File`` line and its source line."""
    lines = traceback.splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith("  File "))
    return lines[last:last + 2]


def test_a_one_line_loop_is_a_line_event_each_turn(run_script, monkeypatch) -> None:
    # ``for k in range(2): ...`` jumps back within its line: settrace reports the line each
    # turn, sys.monitoring only through its JUMP event.
    monitored, traced = _both(run_script, monkeypatch, SCRIPTS / "control_flow.py")
    last = max(e.line for e in of_kind(traced, "line"))
    one_line_loop = [e for e in of_kind(monitored, "line") if e.line == last - 1]
    assert len(one_line_loop) == 3  # two turns and the exhausted range


def test_the_run_uses_sys_monitoring_and_gives_the_id_back(run_script, monkeypatch, tmp_path) -> None:
    script = tmp_path / "which_hook.py"
    script.write_text("import sys\nprint(sys.monitoring.get_tool(sys.monitoring.DEBUGGER_ID), sys.gettrace())\n")
    monkeypatch.delenv(tracing.FORCE_VARIABLE, raising=False)
    assert stdout(run_script(script)) == "gradtui None\n"
    assert sys.monitoring.get_tool(sys.monitoring.DEBUGGER_ID) is None
    monkeypatch.setenv(tracing.FORCE_VARIABLE, "settrace")
    printed = stdout(run_script(script))
    assert printed.startswith("None <bound method LineTracer.trace_call")


def test_a_debugger_holding_the_id_leaves_the_run_to_settrace(run_script, monkeypatch) -> None:
    monkeypatch.delenv(tracing.FORCE_VARIABLE, raising=False)
    expected = run_script(SCENARIOS / "sgd_loop.py", in_memory=True)
    debugger = sys.monitoring.DEBUGGER_ID
    sys.monitoring.use_tool_id(debugger, "another debugger")
    try:
        fallen_back = run_script(SCENARIOS / "sgd_loop.py", in_memory=True)
        assert sys.monitoring.get_tool(debugger) == "another debugger"
    finally:
        sys.monitoring.free_tool_id(debugger)
    assert fallen_back.events == expected.events and of_kind(expected, "line")


def test_other_threads_running_the_users_code_are_not_traced(run_script, monkeypatch, tmp_path) -> None:
    # The user's function runs in a thread of the test while the script runs it too: only
    # the script's own calls are its lines.
    (tmp_path / "shared.py").write_text("def work(n):\n    total = 0\n    for i in range(n):\n"
                                        "        total += i\n    return total\n")
    script = tmp_path / "main.py"
    script.write_text("import shared, time\nfor _ in range(3):\n    shared.work(2)\n    time.sleep(0.01)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import shared  # type: ignore[import-not-found]

        stop = threading.Event()

        def elsewhere() -> None:
            while not stop.is_set():
                shared.work(50)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        try:
            monkeypatch.delenv(tracing.FORCE_VARIABLE, raising=False)
            timeline = run_script(script, in_memory=True)
        finally:
            stop.set()
            thread.join()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("shared", None)
    in_work = [e.line for e in of_kind(timeline, "line") if e.file == "shared.py"]
    # Per call of work(2): lines 2, 3, then 4 and 3 twice each, 5.
    assert in_work == [2, 3, 4, 3, 4, 3, 5] * 3


def test_lines_after_a_caught_recursion_error_are_still_events(run_script, monkeypatch) -> None:
    # A settrace function that cannot be called at the limit is unset by CPython for the
    # rest of the run; a monitoring callback that cannot be called leaves the tool as it was.
    monkeypatch.delenv(tracing.FORCE_VARIABLE, raising=False)
    timeline = run_script(SCRIPTS / "caught_recursion.py")
    assert timeline.status == "finished"
    assert [e.line for e in of_kind(timeline, "line")][-4:] == [7, 8, 9, 10]
    assert [(e.line, e.text) for e in of_kind(timeline, "output")] == [(8, "caught\n"), (10, "after 2.0\n")]
    assert {e.line for e in of_kind(timeline, "op")} == {9}
