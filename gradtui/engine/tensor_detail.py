"""A whole tensor for the tensor detail view: torch's own repr of every value, and a histogram.

The timeline keeps the values of small tensors only (``--max-values``); the detail view
of a live run asks for the rest through an evaluation (``Evaluate(detail=True)``). The
text is exactly what ``repr`` prints with ``torch.set_printoptions(threshold=inf)``, so
it reads as the user's own ``print`` would; the print options are global, so they are
changed for the call and put back. Past ``MAX_FULL_ELEMENTS`` the leading rows are shown
and a last line says so. Callers run with torch functions disabled.
"""

from __future__ import annotations

import math

import torch

#: The repr shows at most this many elements: torch formats about 70,000 a second here
#: (a million took 14 s and 15 MB of text), so a detail view opens within about 1.5 s.
MAX_FULL_ELEMENTS = 100_000
#: The histogram's number of bins.
BINS = 20

Histogram = tuple[tuple[float, float, int], ...]


def full_repr(t: torch.Tensor) -> str:
    """``repr(t)`` with nothing summarised, up to ``MAX_FULL_ELEMENTS`` elements."""
    shown, cut = _leading(t.detach()) if t.numel() > MAX_FULL_ELEMENTS else (t, "")
    with torch._tensor_str.printoptions(threshold=math.inf):
        text = repr(shown)
    return text + cut


def _leading(t: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The first rows of ``t`` that fit, and the line saying what was cut."""
    total = t.numel()
    per_row = total // t.shape[0] if t.dim() and t.shape[0] else total
    if t.dim() >= 2 and per_row <= MAX_FULL_ELEMENTS:
        rows = MAX_FULL_ELEMENTS // per_row
        return t[:rows], (f"\n… cut: the first {rows:,} of {t.shape[0]:,} rows are shown "
                          f"({rows * per_row:,} of {total:,} elements)")
    return t.reshape(-1)[:MAX_FULL_ELEMENTS], (f"\n… cut: the first {MAX_FULL_ELEMENTS:,} of {total:,} elements "
                                               f"are shown, flattened (shape {tuple(t.shape)})")


def histogram(t: torch.Tensor) -> Histogram:
    """``BINS`` bins ``(low, high, count)`` of the finite values, by ``torch.histc`` on a float copy.

    Empty for a tensor with no finite value, and for booleans, complex numbers and tensors
    without values (meta). The bins span the finite values' minimum to maximum; one value
    repeated gets bins of width 1/``BINS`` around it.
    """
    if t.dtype == torch.bool or t.is_complex() or t.is_meta or t.is_sparse or t.is_quantized or t.numel() == 0:
        return ()
    values = t.detach().reshape(-1).to(torch.float64 if t.dtype == torch.float64 else torch.float32)
    finite = values[torch.isfinite(values)]
    if finite.numel() == 0:
        return ()
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    counts = torch.histc(finite, bins=BINS, min=low, max=high).tolist()
    width = (high - low) / BINS
    return tuple((low + i * width, high if i == BINS - 1 else low + (i + 1) * width, int(c))
                 for i, c in enumerate(counts))
