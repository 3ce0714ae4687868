"""torch's lazily imported parts run untraced in the script's thread, and tracing goes on after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gradtui.model.store.reader import Recording


def test_the_optimizers_lazy_import_runs_without_the_trace_function(tmp_path: Path) -> None:
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
    done = subprocess.run([sys.executable, "-m", "gradtui", "--record", str(out), str(script)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Imported by the run's own finder (never traced), and the script is traced again after it.
    assert done.stdout.split() == ["_UntracedLoader", "True"]
    events = Recording(out).timeline().events
    lines = [e.line for e in events if e.kind == "line"]
    assert lines == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e.kind for e in events if e.kind in ("backward", "step")] == ["backward", "step"]
