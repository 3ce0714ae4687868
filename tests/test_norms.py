"""``norms``: many gradients' norms in one call, each the number ``torch.linalg.vector_norm`` gives."""

from __future__ import annotations

import textwrap
from pathlib import Path

import torch

from gradtui.engine.norms import norms
from gradtui.engine.script import load_script
from gradtui.engine.session import Session
from gradtui.model.events import BackwardDone, OutputWritten
from tests.helpers import python_stdout


def test_the_same_numbers_as_one_at_a_time() -> None:
    torch.manual_seed(0)
    tensors = [torch.randn(n, dtype=dtype) * 10 for n in (1, 3, 64, 4096, 70_000)
               for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)]
    expected = [float(torch.linalg.vector_norm(t)) for t in tensors]
    assert norms(tensors) == expected
    wide = [float(torch.linalg.vector_norm(t, dtype=torch.float64)) for t in tensors if t.dtype != torch.float16
            and t.dtype != torch.bfloat16]
    assert norms([t for t in tensors if t.dtype in (torch.float32, torch.float64)], torch.float64) == wide


def test_none_for_what_has_no_norm_and_the_rest_in_place() -> None:
    g = torch.tensor([3.0, 4.0])
    found = norms([None, torch.tensor([1, 2]), torch.zeros(0), g, torch.tensor([[0.0, -2.0]])])
    assert found == [None, None, None, 5.0, 2.0]
    assert norms([]) == []


def test_a_gradient_that_requires_grad_and_a_sparse_one() -> None:
    x = torch.tensor([3.0, 4.0], requires_grad=True)
    made = x * 2  # a gradient made with create_graph=True requires grad itself
    sparse = torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.tensor([3.0, 4.0]), (5,))
    assert norms([made, sparse]) == [10.0, float(torch.linalg.vector_norm(sparse.to_dense()))]


def test_a_sparse_embedding_trains_as_under_plain_python(tmp_path: Path) -> None:
    """Its gradients are sparse: the backward's notes once raised into the script from here."""
    script = tmp_path / "sparse.py"
    script.write_text(textwrap.dedent("""\
        import torch
        torch.manual_seed(0)
        emb = torch.nn.Embedding(10, 3, sparse=True)
        opt = torch.optim.SGD(emb.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            loss = (emb(torch.tensor([1, 2, 2])) ** 2).sum()
            loss.backward()
            opt.step()
        print(f"loss {loss.item():.6f}")
        """))
    session = Session(load_script(str(script)))
    session.start()
    assert session.join(30.0)
    assert session.timeline.status == "finished", session.timeline.error
    printed = "".join(e.text for e in session.timeline.events if isinstance(e, OutputWritten) and e.stream == "stdout")
    assert printed == python_stdout(script)
    backwards = [e for e in session.timeline.events if isinstance(e, BackwardDone)]
    assert len(backwards) == 3 and all(e.grads["emb.weight"].after is not None for e in backwards)
