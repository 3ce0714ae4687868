"""The 2-norms of many tensors at once, as Python floats.

Every backward the notes take the norm of each leaf's gradient: six tensors on the
benchmark MLP, each a torch call and a ``float()`` of its own. ``torch._foreach_norm``
computes them in one call (measured with the checks around it: 21.5 us became 18.5; for
the step's two update norms in float64 it was slower, so those stay one call each); on
the CPU it gives the same bits as
``torch.linalg.vector_norm`` (checked for float16 to float64, 1 to 2.1M elements). A
list it cannot take is done one tensor at a time, and a sparse gradient (an
``nn.Embedding(sparse=True)``'s) by its values, which torch's norm does not take as it is.
Callers run with torch functions disabled.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_STRIDED = torch.strided


def norms(tensors: Sequence[torch.Tensor | None], dtype: torch.dtype | None = None) -> list[float | None]:
    """``float(torch.linalg.vector_norm(t, dtype=dtype))`` of each floating, non-empty tensor;
    None for the rest, and for one whose norm torch cannot compute."""
    out: list[float | None] = [None] * len(tensors)
    at: list[int] = []
    chosen: list[torch.Tensor] = []
    for i, t in enumerate(tensors):
        if t is None or not t.is_floating_point() or not t.numel():
            continue
        if t.layout == _STRIDED:
            at.append(i)
            chosen.append(t.detach())  # detached: the norms are no part of any graph
        else:
            out[i] = _one(t, dtype)
    if not chosen:
        return out
    try:
        found = torch._foreach_norm(chosen, 2, dtype=dtype)
    except (RuntimeError, TypeError, NotImplementedError):
        for i, t in zip(at, chosen):
            out[i] = _one(t, dtype)
        return out
    for i, norm in zip(at, found):
        out[i] = norm.item()
    return out


def _one(t: torch.Tensor, dtype: torch.dtype | None) -> float | None:
    """One tensor's norm; a sparse one's is its values' (torch has no norm kernel for it)."""
    t = t.detach()
    try:
        if t.layout == torch.sparse_coo:
            t = t.coalesce().values()
        elif t.layout != _STRIDED:
            t = t.to_dense()
        return float(torch.linalg.vector_norm(t, dtype=dtype))
    except (RuntimeError, TypeError, NotImplementedError):
        return None
