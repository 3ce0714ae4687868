"""Batches from a DataLoader are ops of the script (``next(loader, [i])``), with the values torch gave.

The expected batches come from iterating the same seeded loader directly in the test;
the scripts must print and exit exactly as under plain python, with workers forked,
spawned or none.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from gradtui.model.store.reader import Recording
from tests.conftest import REPO
from tests.helpers import flat, plain_python, stdout
from tests.recording_tools import gradtui

SCRIPT = """\
import torch
from torch.utils.data import DataLoader, TensorDataset

if __name__ == "__main__":
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(10, 3), torch.arange(10))
    train_loader = DataLoader(data, batch_size=4, shuffle=True, num_workers={workers})
    for xb, yb in train_loader:
        print(tuple(xb.shape), yb.tolist())
"""


def expected_batches() -> list[list[object]]:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(10, 3), torch.arange(10))
    out: list[list[object]] = []
    for xb, yb in DataLoader(data, batch_size=4, shuffle=True):
        out += [xb.tolist(), yb.tolist()]
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_each_tensor_of_each_batch_is_an_op_with_torchs_values(tmp_path: Path, run_script, workers: int) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "loader.py"
    path.write_text(SCRIPT.format(workers=workers))
    tl = run_script(path)
    assert tl.status == "finished"
    ops = [e for e in tl.events if e.kind == "op" and e.op == "next"]
    assert [e.args for e in ops] == [("train_loader", "[0]"), ("train_loader", "[1]")] * 3
    assert {e.line for e in ops} == {8}
    assert [flat(e.output) for e in ops] == [flat_list(v) for v in expected_batches()]
    assert stdout(tl) == plain_python(path).stdout


def flat_list(v: object) -> list[object]:
    if isinstance(v, list):
        return [x for item in v for x in flat_list(item)]
    return [v]


def test_spawned_workers_and_a_spawn_pool_run_as_under_python(tmp_path: Path) -> None:
    script = REPO / "tests" / "scripts" / "real" / "loader_spawn.py"
    plain = plain_python(script)
    assert plain.returncode == 0, plain.stderr
    out = tmp_path / "run.db"
    r = gradtui("--record", out, script)
    assert (r.returncode, r.stdout) == (0, plain.stdout), r.stderr
    tl = Recording(out).timeline()
    assert tl.status == "finished"
    nexts = [e for e in tl.events if e.kind == "op" and e.op == "next"]
    assert len(nexts) == 8  # 2 epochs × 2 batches × (xb, yb), all in the script's process
    assert all(e.file == "loader_spawn.py" for e in tl.events if e.kind != "output")
