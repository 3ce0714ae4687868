"""The ``gradtui`` command as a user runs it: a real process, its exit status and output.

Every test starts ``python -m gradtui`` in a subprocess from the repository root and looks
only at what a user sees: the exit status, stdout, stderr and the files it writes. The
expected numbers are the tutorial's (d(theta*theta)/dtheta = 2 at theta = 1, so
``theta.grad`` accumulates 2, 4, 6, 8), never gradtui's own earlier output.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gradtui.model import codec

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
ACCUMULATION = SCENARIOS / "accumulation.py"
TIMEOUT = 120

ARROW = "\u2192"


def gradtui(*args: str | os.PathLike[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gradtui", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def traceback_frames(stderr: str) -> list[str]:
    return re.findall(r'^\s*File "([^"]+)", line \d+', stderr, flags=re.M)


def lines_where(path: Path, predicate) -> list[int]:  # type: ignore[no-untyped-def]
    """1-based numbers of the lines of ``path`` whose stripped text satisfies ``predicate``."""
    return [i for i, text in enumerate(path.read_text().splitlines(), 1) if predicate(text.strip())]


# ---------------------------------------------------------------- --help


def test_help_lists_the_options_and_script() -> None:
    r = gradtui("--help")
    assert r.returncode == 0, r.stderr
    for word in ("--record", "--trace", "--max-values", "SCRIPT"):
        assert word in r.stdout, f"{word} missing from --help:\n{r.stdout}"
    assert r.stderr == ""


# ---------------------------------------------------------------- bad input


@pytest.fixture
def marker_script(tmp_path: Path) -> tuple[Path, Path]:
    """A script that proves it ran by creating ``marker``."""
    marker = tmp_path / "marker"
    script = tmp_path / "writes_marker.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return script, marker


def assert_usage_error(r: subprocess.CompletedProcess[str]) -> str:
    """Exit 2, one non-empty ``gradtui: `` line on stderr, no traceback; returns that line."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("gradtui: ") and lines[0][len("gradtui: "):].strip(), lines
    assert r.stderr.endswith("\n")
    return lines[0]


def test_no_script(marker_script: tuple[Path, Path]) -> None:
    _, marker = marker_script
    line = assert_usage_error(gradtui())
    assert "SCRIPT" in line
    assert_usage_error(gradtui("--trace"))
    assert not marker.exists()


def test_nonexistent_script(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_script.py"
    line = assert_usage_error(gradtui("--trace", missing))
    assert str(missing) in line
    assert "no such file" in line.replace(str(missing), "")


def test_directory_as_script(tmp_path: Path) -> None:
    folder = tmp_path / "a_folder"
    folder.mkdir()
    line = assert_usage_error(gradtui("--trace", folder))
    assert str(folder) in line
    assert "directory" in line.replace(str(folder), "")  # not just the test's own tmp_path name


def test_binary_file_as_script(tmp_path: Path) -> None:
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\xff\xfe import torch\n\x00\x00")
    line = assert_usage_error(gradtui("--trace", binary))
    assert str(binary) in line
    assert "binary" in line.replace(str(binary), "")


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    script = tmp_path / "bad_syntax.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('ran')\ny = 2\ndef f(:\n    pass\n")
    line = assert_usage_error(gradtui("--trace", script))
    assert str(script) in line
    assert re.search(r"bad_syntax\.py:3\b|bad_syntax\.py\b.*\bline 3\b", line), line
    assert "SyntaxError" in line
    assert not marker.exists()


def test_unknown_option(marker_script: tuple[Path, Path]) -> None:
    script, marker = marker_script
    line = assert_usage_error(gradtui("--bogus", script))
    assert "--bogus" in line
    assert not marker.exists()


def test_record_into_missing_folder(marker_script: tuple[Path, Path], tmp_path: Path) -> None:
    script, marker = marker_script
    out = tmp_path / "no_such_folder" / "out.json"
    line = assert_usage_error(gradtui("--record", out, script))
    assert str(out) in line
    assert "does not exist" in line.replace(str(out), "").replace(str(out.parent), "")
    assert not marker.exists(), "the script ran although the timeline could not be written"
    assert not out.parent.exists()


def test_record_into_a_directory(marker_script: tuple[Path, Path], tmp_path: Path) -> None:
    script, marker = marker_script
    folder = tmp_path / "out_dir"
    folder.mkdir()
    line = assert_usage_error(gradtui("--record", folder, script))
    assert str(folder) in line
    assert "directory" in line.replace(str(folder), "")
    assert not marker.exists(), "the script ran although the timeline could not be written"
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_bad_max_values(marker_script: tuple[Path, Path], tmp_path: Path, value: str) -> None:
    script, marker = marker_script
    line = assert_usage_error(gradtui("--max-values", value, "--record", tmp_path / "out.json", script))
    assert "--max-values" in line and value in line
    assert not marker.exists()
    assert not (tmp_path / "out.json").exists()


# ---------------------------------------------------------------- --trace


TRACE_LINE = re.compile(r"^(?:\S+:)?L(\d+)\s+(line|op|backward|zero_grad|step|output|stderr|error)\b(.*)$")


def test_trace_accumulation() -> None:
    r = gradtui("--trace", ACCUMULATION)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr

    parsed = []
    notes = [text for text in r.stdout.splitlines() if text.startswith("      ⚠ ")]
    assert len(notes) == 1 and "theta.grad still held 2" in notes[0]  # the accumulation note, once
    for text in r.stdout.splitlines():
        if text in notes:
            continue
        m = TRACE_LINE.match(text)
        assert m, f"not a trace line (the script's raw output must not be mixed in): {text!r}"
        parsed.append((int(m.group(1)), m.group(2), m.group(3)))

    backward_lines = lines_where(ACCUMULATION, lambda s: s == "loss.backward()")
    zero_grad_lines = lines_where(ACCUMULATION, lambda s: s == "optimiser.zero_grad()")
    assert len(backward_lines) == 6 and len(zero_grad_lines) == 2  # the scenario as written

    backwards = [(i, line, rest) for i, (line, kind, rest) in enumerate(parsed) if kind == "backward"]
    zero_grads = [(i, line, rest) for i, (line, kind, rest) in enumerate(parsed) if kind == "zero_grad"]
    assert [line for _, line, _ in backwards] == backward_lines
    assert [line for _, line, _ in zero_grads] == zero_grad_lines

    # d(theta*theta)/dtheta = 2*theta = 2 at theta = 1: backward adds 2 each time.
    expected = [f"None {ARROW} 2", f"2 {ARROW} 4", f"4 {ARROW} 6", f"6 {ARROW} 8", f"None {ARROW} 2",
                f"None {ARROW} 2"]
    for (_, line, rest), change in zip(backwards, expected):
        assert f"theta.grad {change}" in rest, (line, rest)
        assert "loss=1" in rest  # theta*theta at theta = 1
    assert f"theta.grad 8 {ARROW} None" in zero_grads[0][2]
    assert f"theta.grad 2 {ARROW} None" in zero_grads[1][2]
    order = [backwards[0][0], backwards[1][0], backwards[2][0], backwards[3][0], zero_grads[0][0]]
    assert order == sorted(order)

    # The script's prints appear as output lines, in place: each one between the backward
    # before it and the one after it.
    outputs = [(i, line, rest) for i, (line, kind, rest) in enumerate(parsed) if kind == "output"]

    def output_index(text: str) -> int:
        hits = [i for i, _, rest in outputs if text in rest]
        assert len(hits) >= 1, f"{text!r} not among the output lines:\n{r.stdout}"
        return hits[0]

    assert backwards[1][0] < output_index("After 1st loss.backward(): theta.grad=tensor([4.])") < backwards[2][0]
    assert backwards[2][0] < output_index("After 2nd loss.backward(): theta.grad=tensor([6.])") < backwards[3][0]
    assert backwards[3][0] < output_index("After 3rd loss.backward(): theta.grad=tensor([8.])") < zero_grads[0][0]
    assert zero_grads[1][0] < output_index("After optimiser.zero_grad(): theta.grad=None") < backwards[5][0]
    # and at the line of the print that wrote them
    print_line = lines_where(ACCUMULATION, lambda s: s.startswith('print(f"After 3rd'))[0]
    assert parsed[output_index("After 3rd loss.backward()")][0] == print_line


# ---------------------------------------------------------------- --record


def load_json(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text(encoding="utf-8"))


def test_record_accumulation(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    r = gradtui("--record", out, ACCUMULATION)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    # The script's own stdout still reaches ours, as python would print it.
    assert "After 3rd loss.backward(): theta.grad=tensor([8.])\n" in r.stdout
    assert "After optimiser.zero_grad(): theta.grad=None\n" in r.stdout
    assert r.stdout.index("theta.grad=tensor([4.])") < r.stdout.index("theta.grad=tensor([8.])")

    doc = load_json(out)
    assert doc["format"] == "gradtui-timeline"
    assert doc["version"] == 1
    assert doc["status"] == "finished"
    assert doc["exit_code"] == 0
    assert doc["error"] is None
    events = doc["events"]
    assert events, "no events recorded"
    assert [e["seq"] for e in events] == list(range(len(events)))
    grads = [e["grads"]["theta"]["after"]["values"] for e in events if e["kind"] == "backward"]
    assert grads == [[2.0], [4.0], [6.0], [8.0], [2.0], [2.0]]
    zeroed = [(e["grads"]["theta"]["before"]["values"], e["grads"]["theta"]["after"]) for e in events
              if e["kind"] == "zero_grad"]
    assert zeroed == [([8.0], None), ([2.0], None)]
    # no temporary file left behind next to the timeline
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_record_script_that_raises(tmp_path: Path) -> None:
    script = SCRIPTS / "raises.py"
    out = tmp_path / "out.json"
    r = gradtui("--record", out, script)
    assert r.returncode == 1, r.stderr
    assert "before boom 2" in r.stdout
    assert "never printed" not in r.stdout

    doc = load_json(out)
    assert doc["status"] == "error"
    raise_line = lines_where(script, lambda s: s.endswith("# raises here"))
    assert len(raise_line) == 1
    assert doc["error"]["type"] == "RuntimeError"
    assert doc["error"]["message"] == "boom from the script"
    assert doc["error"]["line"] == raise_line[0]

    assert "RuntimeError: boom from the script" in r.stderr
    assert "Traceback (most recent call last):" in r.stderr
    frames = traceback_frames(r.stderr)
    assert any(Path(f).name == "raises.py" for f in frames), r.stderr
    package = str(REPO / "gradtui") + os.sep
    leaked = [f for f in frames if f.startswith(package) or "gradtui/" in f.replace(os.sep, "/")]
    assert leaked == [], f"gradtui's own frames in the script's traceback:\n{r.stderr}"


def test_record_script_that_exits(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    r = gradtui("--record", out, SCRIPTS / "exits.py")
    assert r.returncode == 3, r.stderr
    assert "bye" in r.stdout
    assert "Traceback" not in r.stderr
    doc = load_json(out)
    assert doc["status"] == "exited"
    assert doc["exit_code"] == 3


def printed_argv(stdout: str) -> list[str]:
    first = stdout.splitlines()[0]
    value = ast.literal_eval(first)
    assert isinstance(value, list), first
    return value


def test_arguments_after_script_go_to_the_script(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    script = SCRIPTS / "argv_echo.py"
    r = gradtui("--record", out, script, "a1", "--b")
    assert r.returncode == 0, r.stderr
    argv = printed_argv(r.stdout)
    assert argv[1:] == ["a1", "--b"]
    assert Path(argv[0]).name == "argv_echo.py"
    assert r.stdout.splitlines()[1:3] == ["__main__", "argv_echo.py"]
    assert load_json(out)["argv"][1:] == ["a1", "--b"]


def test_gradtui_options_after_script_belong_to_the_script(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    r = gradtui("--record", out, SCRIPTS / "argv_echo.py", "--trace", "--max-values", "0")
    assert r.returncode == 0, r.stderr
    assert printed_argv(r.stdout)[1:] == ["--trace", "--max-values", "0"]
    # gradtui did not start tracing: the only stdout is the script's own three lines.
    assert len(r.stdout.splitlines()) == 3, r.stdout
    assert not any(TRACE_LINE.match(line) for line in r.stdout.splitlines())
    doc = load_json(out)
    assert doc["max_values"] == 64


def test_double_dash_after_script_is_passed_to_the_script(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    r = gradtui("--record", out, SCRIPTS / "argv_echo.py", "--", "x")
    assert r.returncode == 0, r.stderr
    assert printed_argv(r.stdout)[1:] == ["--", "x"]


# ---------------------------------------------------------------- Ctrl-C


# "started" is printed after the first mul, so when the test reads it the loop's op is
# already recorded (and so is the line itself: output is recorded before it is echoed).
# Printed before the loop, a loaded machine let the Ctrl-C arrive before the first mul.
LOOP_SCRIPT = """\
import torch

x = torch.ones(3)
x = x * 1.0
print("started", flush=True)
while True:
    x = x * 1.0
"""


def _reader(stream, lines: queue.Queue) -> None:  # type: ignore[no-untyped-def, type-arg]
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def wait_for_line(lines: queue.Queue, wanted: str, timeout: float) -> list[str]:  # type: ignore[type-arg]
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{wanted!r} did not appear within {timeout} s; saw {seen!r}")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"stdout closed before {wanted!r} appeared; saw {seen!r}")
        seen.append(line)
        if line.strip() == wanted:
            return seen


def sigint_as_at_a_terminal() -> None:
    """In the child before it runs: Ctrl-C as a terminal delivers it. A test suite started in the
    background (``make test &``) runs with SIGINT ignored, and Python keeps it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_gradtui(argv: list[str], tmp_path: Path) -> tuple[subprocess.Popen[str], queue.Queue, Path]:  # type: ignore[type-arg]
    err_path = tmp_path / "stderr.txt"
    err = open(err_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the caller's wait
    p = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True, encoding="utf-8",
                         preexec_fn=sigint_as_at_a_terminal)
    err.close()
    lines: queue.Queue = queue.Queue()  # type: ignore[type-arg]
    threading.Thread(target=_reader, args=(p.stdout, lines), daemon=True).start()
    return p, lines, err_path


def test_ctrl_c_writes_an_interrupted_timeline(tmp_path: Path) -> None:
    script = tmp_path / "loop.py"
    script.write_text(LOOP_SCRIPT)
    out = tmp_path / "out.json"
    p, lines, err_path = start_gradtui([sys.executable, "-m", "gradtui", "--record", str(out), str(script)], tmp_path)
    try:
        wait_for_line(lines, "started", timeout=60)
        p.send_signal(signal.SIGINT)
        returncode = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    stderr = err_path.read_text(encoding="utf-8")
    assert returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert out.exists(), "no timeline written on Ctrl-C"
    tl = codec.load(out)
    assert tl.status == "interrupted"
    assert tl.exit_code == 130
    assert tl.events
    assert any(e.kind == "output" and e.text == "started\n" for e in tl.events)
    assert any(e.kind == "op" and e.op == "mul" for e in tl.events)


# Runs gradtui's own main() with one change: the SIGINT is sent from inside
# Session.start(), i.e. while Thread.start() is still waiting for the script's thread to
# report that it started. In the real command this happens whenever Ctrl-C comes within
# a few milliseconds of the script's first output (the script's thread can print before
# Thread.start() returns in the main thread); with the plain command and SIGINT sent as
# soon as "started" is read, observed in about 1 run in 100 to 300.
EARLY_CTRL_C = """\
import os, signal, sys
from gradtui.engine import session
_start = session.Session.start
def start(self):
    _start(self)
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(10 ** 6):
        pass
session.Session.start = start
from gradtui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_right_at_the_start_still_writes_the_timeline(tmp_path: Path) -> None:
    script = tmp_path / "loop.py"
    script.write_text(LOOP_SCRIPT)
    out = tmp_path / "out.json"
    r = subprocess.run([sys.executable, "-c", EARLY_CTRL_C, "--record", str(out), str(script)], cwd=REPO,
                       capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=sigint_as_at_a_terminal)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 130, r.stderr
    assert out.exists()
    assert codec.load(out).status == "interrupted"


# ---------------------------------------------------------------- the debugger and --replay


def test_debugger_without_a_terminal_says_what_to_use(marker_script: tuple[Path, Path]) -> None:
    script, marker = marker_script
    line = assert_usage_error(gradtui(script))
    assert "terminal" in line and "--trace" in line
    assert not marker.exists()


def test_unknown_theme(marker_script: tuple[Path, Path]) -> None:
    script, marker = marker_script
    line = assert_usage_error(gradtui("--theme", "no-such-theme", script))
    assert "no-such-theme" in line and "textual-dark" in line
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no such file"),
        ("this is not json", "not valid JSON"),
        ('{"format": "gradtui-timeline", "version": 1, "script": "x.py", "argv": [], "status": "fini', "truncated"),
        ('{"format": "something-else", "version": 1}', "not a gradtui timeline"),
        ('{"format": "gradtui-timeline", "version": 99}', "version 99"),
    ],
)
def test_replay_of_a_bad_file(tmp_path: Path, content: str | None, words: str) -> None:
    path = tmp_path / "timeline.json"
    if content is not None:
        path.write_text(content)
    line = assert_usage_error(gradtui("--replay", path))
    assert words.lower() in line.lower(), line


def test_replay_takes_no_script_and_no_headless_mode(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    assert gradtui("--record", path, SCENARIOS / "first_backward.py").returncode == 0
    assert "takes no SCRIPT" in assert_usage_error(gradtui("--replay", path, ACCUMULATION))
    assert "cannot be combined" in assert_usage_error(gradtui("--replay", path, "--trace"))
    assert "terminal" in assert_usage_error(gradtui("--replay", path))  # valid file, but no terminal here


def test_watch_in_trace_follows_plain_python_theta() -> None:
    r = gradtui("--watch", "theta", "--trace", SCENARIOS / "gd_plain_python.py")
    assert r.returncode == 0, r.stderr
    watched = re.findall(r"watch\s+theta = (\S+)", r.stdout)
    # The tutorial's hand-written descent: 1.0, 0.6, 0.36, ... 3.65616e-05 after 20 steps.
    assert watched[:3] == ["1", "0.6", "0.36"]
    assert watched[-1] == "3.65616e-05"


@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "syntax"])
def test_bad_script_for_the_debugger_is_reported_before_the_terminal(tmp_path: Path, kind: str) -> None:
    path = {"missing": tmp_path / "nope.py", "directory": tmp_path, "binary": tmp_path / "b.py",
            "syntax": tmp_path / "s.py"}[kind]
    if kind == "binary":
        path.write_bytes(b"\x00\x01\x02\xff" * 10)
    if kind == "syntax":
        path.write_text("x = (1,\n")
    line = assert_usage_error(gradtui(path))
    assert "terminal" not in line  # the script's problem is named first, in the debugger's mode too


def test_backward_nodes_are_recorded_on_request(tmp_path: Path) -> None:
    with_nodes, without = tmp_path / "with.json", tmp_path / "without.json"
    assert gradtui("--backward-nodes", "--record", with_nodes, SCENARIOS / "mean_chain.py").returncode == 0
    assert gradtui("--record", without, SCENARIOS / "mean_chain.py").returncode == 0
    (bw,) = [e for e in load_json(with_nodes)["events"] if e["kind"] == "backward"]
    assert [n["name"] for n in bw["nodes"]] == ["MeanBackward0", "MulBackward0", "PowBackward0", "AddBackward0",
                                                "AccumulateGrad"]
    assert bw["nodes"][0]["grad_out"][0]["values"] == [[0.25, 0.25], [0.25, 0.25]]  # the tutorial's 0.25
    (bw,) = [e for e in load_json(without)["events"] if e["kind"] == "backward"]
    assert not bw.get("nodes")
