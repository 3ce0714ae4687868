"""The summaries' cache: a summary is reused while its tensor is unchanged, and forgotten with it."""

from __future__ import annotations

import gc

import torch

from gradtui.engine.capture import TensorCapture


def test_an_unchanged_tensor_keeps_its_summary_and_a_write_gets_a_new_one() -> None:
    capture = TensorCapture()
    t = torch.tensor([1.0, 2.0, 3.0])
    first = capture.summarize(t)
    assert capture.summarize(t) is first
    t.mul_(2)
    second = capture.summarize(t)
    assert second is not first
    assert second is not None and second.values == t.tolist() == [2.0, 4.0, 6.0]


def test_a_dead_tensors_entry_goes_with_it() -> None:
    """Each entry's weak reference carries its key: its callback removes that entry, no other."""
    capture = TensorCapture()
    kept = torch.ones(4)
    capture.summarize(kept)
    for i in range(200):
        capture.summarize(torch.full((8,), float(i)))  # dies at once: its entry must not stay
    gc.collect()
    assert list(capture._cache) == [id(kept)]
    summary = capture.summarize(kept)
    assert summary is not None and summary.values == [1.0, 1.0, 1.0, 1.0]
