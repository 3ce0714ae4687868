"""torch's lazily imported parts run untraced in the script's thread, and tracing goes on after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradtui.engine import tracing
from gradtui.model.store.reader import Recording

#: What the script prints of the import and the thread's trace function, by hook: under
#: ``sys.settrace`` the run's own loader imports it untraced and the trace function is back
#: after; ``sys.monitoring`` (3.12+) sets no trace function, and torch's code costs it one
#: disabled ``PY_START`` per code object, so the import goes as under plain python.
HOOKS = [pytest.param("settrace", ["_UntracedLoader", "True"], id="settrace"),
         pytest.param("monitoring", ["SourceFileLoader", "False"], id="monitoring",
                      marks=pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+"))]


@pytest.mark.parametrize(("hook", "printed"), HOOKS)
def test_the_optimizers_lazy_import_runs_without_the_trace_function(tmp_path: Path, hook: str,
                                                                   printed: list[str]) -> None:
    script = tmp_path / "opt.py"
    script.write_text(
        "import sys\n"
        "import torch\n"
        "w = torch.zeros(2, requires_grad=True)\n"
        "opt = torch.optim.SGD([w], lr=0.1)\n"  # the first optimizer imports torch._dynamo
        "print(type(sys.modules['torch._dynamo'].__loader__).__name__, sys.gettrace() is not None)\n"
        "loss = (w - 1).pow(2).sum()\n"
        "loss.backward()\n"
        "opt.step()\n")
    out = tmp_path / "run.db"
    env = {**os.environ, tracing.FORCE_VARIABLE: hook}
    done = subprocess.run([sys.executable, "-m", "gradtui", "--record", str(out), str(script)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    # Imported by the run's own finder (never traced), and the script is traced again after it.
    assert done.stdout.split() == printed
    events = Recording(out).timeline().events
    lines = [e.line for e in events if e.kind == "line"]
    assert lines == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e.kind for e in events if e.kind in ("backward", "step")] == ["backward", "step"]


def test_the_scripts_code_called_from_inside_torch_is_still_traced(tmp_path: Path) -> None:
    """The engine switches the tracer off for its own work only: a gradient hook, an overridden
    ``zero_grad`` and a step closure of the script's still have their lines recorded."""
    script = tmp_path / "hooks.py"
    script.write_text(
        "import torch\n"
        "class MySGD(torch.optim.SGD):\n"
        "    def zero_grad(self, set_to_none=True):\n"
        "        super().zero_grad(set_to_none)\n"  # line 4
        "w = torch.ones(3, requires_grad=True)\n"
        "def hook(g):\n"
        "    return g * 2\n"  # line 7
        "w.register_hook(hook)\n"
        "opt = MySGD([w], lr=0.1)\n"
        "opt.zero_grad()\n"
        "loss = (w * w).sum()\n"
        "loss.backward()\n"
        "def closure():\n"
        "    return (w * 3).sum()\n"  # line 14
        "opt.step(closure)\n"
        "print(w.grad.tolist())\n")
    out = tmp_path / "run.db"
    done = subprocess.run([sys.executable, "-m", "gradtui", "--record", str(out), str(script)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == str([4.0, 4.0, 4.0])  # what torch computes: 2w, doubled by the hook
    lines = [e.line for e in Recording(out).timeline().events if e.kind == "line"]
    assert {4, 7, 14} <= set(lines)
    assert lines.index(4) < lines.index(7) < lines.index(14)
