"""Statistics of many tensors at once (``compute_stats_many``) are torch's own, tensor by tensor."""

from __future__ import annotations

import math

import pytest
import torch

from gradtui.engine.stats import MANY_ELEMENTS, compute_stats, compute_stats_many


def _torch_stats(t: torch.Tensor) -> tuple[float, float, float, float, float]:
    x = t.detach().reshape(-1).to(torch.float64)
    return x.min().item(), x.max().item(), x.mean().item(), x.std().item(), torch.linalg.vector_norm(x).item()


def _tensors() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = [torch.randn(128, 64, generator=g) for _ in range(5)]
    out += [torch.randn(64, generator=g) * 1e6 for _ in range(3)]
    out += [torch.randn(4096, generator=g, dtype=torch.float64) for _ in range(2)]
    out += [torch.randn(3, 5, generator=g).to(torch.bfloat16) for _ in range(3)]
    out += [torch.randn(7, generator=g).to(torch.float16) for _ in range(2)]
    out += [torch.randn(MANY_ELEMENTS // 2 + 1, generator=g) for _ in range(3)]  # one per stack
    # One size in three shapes (one stack, each row reshaped), one of them not contiguous,
    # and tensors that require grad (stacked without a graph).
    out += [torch.randn(8, 32, generator=g), torch.randn(256, generator=g), torch.randn(32, 8, generator=g).t()]
    out += [torch.randn(6, 5, generator=g, requires_grad=True) for _ in range(2)]
    return out


def test_each_tensor_gets_the_statistics_torch_computes() -> None:
    tensors = _tensors()
    for t, stats in zip(tensors, compute_stats_many(tensors), strict=True):
        assert stats is not None and stats.numel == t.numel() and stats.nan == stats.inf == 0
        lo, hi, mean, std, norm = _torch_stats(t)
        assert (stats.min, stats.max) == (lo, hi)
        assert stats.mean == pytest.approx(mean, rel=1e-12, abs=1e-12)
        assert stats.std == pytest.approx(std, rel=1e-12)
        assert stats.norm == pytest.approx(norm, rel=1e-12)


def test_non_finite_values_and_odd_tensors_are_counted_as_compute_stats_counts_them() -> None:
    odd = [
        torch.tensor([1.0, float("nan"), 2.0, float("inf")]),
        torch.tensor([1.0, 5.0, 2.0, 4.0]),  # same size as the row with NaN: one stack
        torch.tensor([float("nan")] * 4),
        torch.arange(10),  # integers
        torch.tensor([True, False, True]),
        torch.tensor(3.0),  # one element: no std
        torch.zeros(0),
        torch.randn(2, 3, dtype=torch.complex64),
        torch.randn(4, 4).t(),  # not contiguous
    ]
    for t, many in zip(odd, compute_stats_many(odd), strict=True):
        one = compute_stats(t)
        assert many is not None and one is not None
        assert (many.numel, many.nan, many.inf) == (one.numel, one.nan, one.inf)
        for field in ("min", "max", "mean", "std", "norm"):
            a, b = getattr(many, field), getattr(one, field)
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12), (t, field, a, b)
    row = compute_stats_many(odd[:2])
    assert row[0] is not None and row[0].nan == 1 and row[0].inf == 1 and row[0].max == 2.0
    assert row[1] is not None and row[1].mean == 3.0


def test_copies_in_reused_buffers_keep_each_versions_statistics() -> None:
    """Large copies go into pooled buffers: a buffer reused for the next version must not
    change what the summary of the previous one says, strided tensors included."""
    from gradtui.engine.capture import POOLED_BYTES, TensorCapture

    capture = TensorCapture(max_values=64, budget_bytes=64 * 1024 * 1024)
    n = POOLED_BYTES // 4 * 2
    w = torch.randn(n // 256, 256, generator=torch.Generator().manual_seed(1))
    expected, summaries = [], []
    with torch.no_grad():
        for step in range(6):
            view = w.t() if step % 2 else w  # a transposed view copies into the same buffer size
            summaries.append(capture.summarize(view))
            expected.append(_torch_stats(view))
            assert capture.materialize_pending()  # the buffer goes back to the pool for the next copy
            w.mul_(1.5).add_(0.25)
    assert capture._pool_bytes > 0  # the buffers were reused, not only allocated
    for summary, (lo, hi, mean, std, norm) in zip(summaries, expected, strict=True):
        stats = summary.stats if summary is not None else None
        assert stats is not None and (stats.min, stats.max) == (lo, hi)
        assert stats.mean == pytest.approx(mean, rel=1e-12, abs=1e-12)
        assert stats.std == pytest.approx(std, rel=1e-12) and stats.norm == pytest.approx(norm, rel=1e-12)
    capture.close()


def test_copies_made_under_inference_mode_are_right_and_do_not_spoil_the_pool() -> None:
    from gradtui.engine.capture import POOLED_BYTES, TensorCapture

    capture = TensorCapture(max_values=64, budget_bytes=64 * 1024 * 1024)
    n = POOLED_BYTES // 4 * 2
    with torch.inference_mode():
        a = torch.arange(n, dtype=torch.float32)
        first = capture.summarize(a)
    capture.materialize_pending()
    b = torch.arange(n, dtype=torch.float32) * 2  # outside inference mode, same size
    second = capture.summarize(b)
    capture.materialize_pending()
    assert first is not None and first.stats is not None and first.stats.max == n - 1
    assert second is not None and second.stats is not None and second.stats.max == 2 * (n - 1)
    capture.close()


def test_a_steps_copy_of_a_parameter_is_its_own_memory_and_its_buffer_serves_the_next() -> None:
    """The optimizer's step compares each large parameter with a copy from the pool: the copy
    must not move with the parameter, and the buffer handed back must be the next copy's."""
    from gradtui.engine.capture import POOLED_BYTES, TensorCapture

    capture = TensorCapture(max_values=64, budget_bytes=64 * 1024 * 1024)
    p = torch.randn(POOLED_BYTES // 4 // 128, 256, generator=torch.Generator().manual_seed(2))
    before = p.clone()
    copy = capture.copy(p)
    assert copy.shape == p.shape and copy.dtype == p.dtype and torch.equal(copy, before)
    p.add_(1.0)
    assert torch.equal(copy, before)  # the copy did not move with the parameter
    address = copy.data_ptr()
    capture.give_back(copy)
    again = capture.copy(p)
    assert again.data_ptr() == address and torch.equal(again, p)
    capture.close()


def test_threads_computing_at_once_each_get_their_own_tensors_statistics() -> None:
    """The float64 buffers of the stacks are lent one caller at a time: three threads
    (as the script's, the writer's and the statistics thread may) never see each other's."""
    import threading

    g = torch.Generator().manual_seed(1)
    batches = [[torch.randn(32, 64, generator=g) * (k + 1) + k for _ in range(40)] for k in range(3)]
    failures: list[str] = []

    def work(tensors: list[torch.Tensor]) -> None:
        for _ in range(30):
            for t, stats in zip(tensors, compute_stats_many(tensors), strict=True):
                lo, hi, mean, std, norm = _torch_stats(t)
                if stats is None or (stats.min, stats.max) != (lo, hi) or not (
                        math.isclose(stats.mean, mean, rel_tol=1e-12) and math.isclose(stats.std, std, rel_tol=1e-12)
                        and math.isclose(stats.norm, norm, rel_tol=1e-12)):
                    failures.append(f"{stats} against {(lo, hi, mean, std, norm)}")
                    return

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[0]
