"""Turning live tensors into ``TensorSummary`` values cheaply, with bounded memory.

Three measured facts shape this module (see the engine notes): a tensor's ``_version``
bumps on every in-place write, optimizer update and gradient accumulation, so an
unchanged tensor can reuse its last summary (copy-on-write; the writes it misses, a batch
norm's running statistics, are counted in ``gradtui.engine.silent_writes``); a clone is
10-25x cheaper than summary statistics, so large tensors are cloned now and their
statistics computed when first asked for; and a long run must not keep every clone, so clones awaiting
statistics are held within a byte budget: once large clones hold an eighth of it a second
thread computes them, and past the whole of it the script's thread does too. Otherwise the
recording's writer computes them with each batch (``materialize_pending``).

Callers run with torch functions disabled (``torch._C.DisableTorchFunction``) so that
the work done here is never seen as the script's own.
"""

from __future__ import annotations

import mmap
import threading
import weakref
from collections import OrderedDict

import torch

from gradtui.engine.silent_writes import SILENT
from gradtui.engine.stats import compute_stats, compute_stats_many
from gradtui.model.tensors import TensorStats, TensorSummary

DEFAULT_MAX_VALUES = 64
#: Clones waiting for their statistics are kept within this many bytes. Measured on the
#: 2.1M-parameter benchmark model (six interleaved runs each, plain 319 MiB): 32 MiB peaked
#: at 423 MiB with the loop 2.6x plain, 24 MiB at 407 MiB (2.8x), 16 MiB at 403 MiB (3.0x):
#: the smaller budget has the script's thread compute more statistics itself. With the
#: recording's writer in a process of its own (13 MiB of memory, the loop no longer
#: sharing a GIL with it), measured again the same way twice, in both orders: 16 MiB
#: peaked at 420-425 MiB (both processes), 12 MiB at 395-401 MiB, at the same loop time
#: within the runs' spread (2.9-3.4x): at 12 MiB the model's 4 MiB weights, gradients
#: and momentum buffers are summarised at once (``_DIRECT_SHARE``) instead of cloned.
DEFAULT_BUDGET_BYTES = 12 * 1024 * 1024
#: Gradients between backward nodes keep their values up to this many elements.
NODE_VALUES = 16
#: Copies of at least this many bytes go into reused buffers (``TensorCapture._copy``).
POOLED_BYTES = 256 * 1024
#: The statistics thread starts on the waiting clones once the large ones (pooled, at
#: least ``POOLED_BYTES`` each) hold this share of the budget, not the whole of it: a
#: model whose steps copy tens of megabytes then keeps a few steps' worth in memory, not
#: twice the budget (on the 2.1M-parameter benchmark model, waking at the full budget left
#: the run's peak memory 0.45x above plain's). Small clones wake it only at the whole
#: budget: the recording's writer computes their statistics with each batch it sends, a
#: few hundred events apart, and a thread woken for them competes with the script for the
#: GIL at each of its torch calls (the small MLP's loop took 6% longer with it).
WAKE_SHARE = 8
#: A tensor larger than this share of the budget is summarised at once, never cloned.
_DIRECT_SHARE = 4


#: Per dtype: its name, whether it is complex, and its element size (read once per dtype).
_DTYPES: dict[torch.dtype, tuple[str, bool, int]] = {}
_STRIDED = torch.strided
_inference_mode = torch.is_inference_mode_enabled


def _mapped_empty(n: int, dtype: torch.dtype, nbytes: int) -> torch.Tensor:
    """An uninitialised 1-D tensor of ``n`` elements in an anonymous private mapping of its own.

    gradtui's copies live between the script's own allocations, with other lifetimes; from
    the allocator's heap they left it fragmented (the script runs in a thread, and its
    arena keeps what was freed rather than give it back). A mapping of its own goes back
    to the system the moment its tensor is freed, and the pool reuses it meanwhile: on the
    2.1M-parameter benchmark model, peak memory went from 447 to 418 MiB (medians of four
    interleaved runs; plain Python 321 MiB) at the same loop time.
    """
    try:
        region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE)
    except (OSError, ValueError, AttributeError):  # no anonymous mappings here: the heap it is
        return torch.empty(n, dtype=dtype)
    return torch.frombuffer(region, dtype=dtype, count=n)


def grad_fn_name(t: torch.Tensor) -> str | None:
    fn = t.grad_fn
    # type(fn).__name__, not repr(fn): the repr carries a memory address.
    return None if fn is None else type(fn).__name__


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class _Deferred:
    """The statistics of one clone, computed once: by the thread that claimed it from the
    capture's queue, or by a reader that asks first (a reader of a claimed one waits)."""

    __slots__ = ("clone", "nbytes", "store", "result", "lock")

    def __init__(self, clone: torch.Tensor, nbytes: int, store: TensorCapture) -> None:
        self.clone: torch.Tensor | None = clone
        self.nbytes = nbytes
        self.store = store
        self.result: TensorStats | None = None
        #: One per clone, so that two threads can compute two clones at once; next to a
        #: clone of at least ``max_values`` elements, a lock is nothing.
        self.lock = threading.Lock()

    def __call__(self) -> TensorStats | None:
        with self.lock:
            clone = self.clone
            if clone is not None:
                with torch._C.DisableTorchFunction():
                    self.result = compute_stats(clone)
                self.clone = None
                self.store._released(self)
                self.store._give_back(clone)
            return self.result


class _KeyedRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that remembers its cache key, so one callback serves every entry.

    Made by ``weakref.ref``'s own constructor and given its ``key`` afterwards: a
    ``__new__`` and ``__init__`` of its own, in Python, cost 0.60 µs a reference against
    0.14 µs (one for every new tensor an event summarises).
    """

    __slots__ = ("key",)
    key: int


class TensorCapture:
    """Summaries of tensors, reused while a tensor is unchanged, within a memory budget."""

    def __init__(self, max_values: int = DEFAULT_MAX_VALUES, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.max_values = max_values
        self.budget_bytes = budget_bytes
        #: Past this many bytes of large clones waiting, the statistics thread starts on them.
        self._wake_bytes = budget_bytes // WAKE_SHARE
        # id(tensor) -> (weakref, version, data_ptr, requires_grad, summary). The weakref
        # guards against a new tensor reusing a dead one's id and memory.
        self._cache: dict[int, tuple[_KeyedRef, int, int, bool, TensorSummary]] = {}
        self._pending: OrderedDict[int, _Deferred] = OrderedDict()
        self._pending_bytes = 0
        #: The bytes of those clones of at least ``POOLED_BYTES`` each (``WAKE_SHARE``).
        self._pending_large = 0
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._materializer: threading.Thread | None = None
        self._closing = False
        #: Copy buffers whose statistics are done, by ``(numel, dtype)``, for the next copies.
        self._pool: dict[tuple[int, torch.dtype], list[torch.Tensor]] = {}
        self._pool_bytes = 0
        #: Claimed from the queue and being computed; and whether a ``settle`` is draining it.
        self._inflight = 0
        self._draining = False

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def summarize(self, t: object) -> TensorSummary | None:
        """The summary of ``t`` as it is now; ``None`` for ``None`` or a non-tensor."""
        if not isinstance(t, torch.Tensor):
            return None
        key = id(t)
        try:
            version = t._version
        except RuntimeError:  # made under torch.inference_mode(): no version counter, so no cache
            return self._summarize_now(t)
        if SILENT:  # batch norm's running statistics: writes the version does not count
            version += SILENT.get(key, 0)
        try:
            ptr = t.data_ptr()
        except RuntimeError:
            ptr = -1
        requires_grad = t.requires_grad
        hit = self._cache.get(key)
        ref = None
        if hit is not None:
            alive: object = hit[0]()
            if alive is t:
                if hit[1] == version and hit[2] == ptr and hit[3] == requires_grad:
                    return hit[4]
                ref = hit[0]  # the same tensor, written since (a parameter, its state): its reference serves on
        summary = self._summarize_now(t)
        if ref is None:
            ref = _KeyedRef(t, self._forget)
            ref.key = key
        self._cache[key] = (ref, version, ptr, requires_grad, summary)
        return summary

    def summarize_fresh(self, t: torch.Tensor) -> TensorSummary | None:
        """The summary of ``t`` read anew: for a write its ``_version`` did not show (``p.data -= …``)."""
        self._cache.pop(id(t), None)
        return self.summarize(t)

    def summarize_small(self, t: object) -> TensorSummary | None:
        """Values for a tensor of up to ``NODE_VALUES`` elements; shape and dtype only above.

        For the gradients flowing between the nodes of a backward pass: the tutorials'
        small tensors keep every value, while a training loop is not charged a copy,
        statistics and a list of numbers for every intermediate gradient (that doubled
        the cost of recording, and added half again to the timeline).
        """
        if not isinstance(t, torch.Tensor):
            return None
        if t.numel() <= min(self.max_values, NODE_VALUES):
            return self.summarize(t)
        return TensorSummary(tuple(t.shape), dtype_name(t.dtype), t.requires_grad, grad_fn_name(t))

    def _forget(self, ref: _KeyedRef) -> None:
        entry = self._cache.get(ref.key)
        if entry is not None and entry[0] is ref:
            del self._cache[ref.key]

    def _summarize_now(self, t: torch.Tensor) -> TensorSummary:
        dtype = t.dtype
        facts = _DTYPES.get(dtype)
        if facts is None:
            facts = _DTYPES[dtype] = (dtype_name(dtype), dtype.is_complex, dtype.itemsize)
        dname, complex_, itemsize = facts
        fn = t.grad_fn
        shape, requires_grad, fn_name = tuple(t.shape), t.requires_grad, None if fn is None else type(fn).__name__
        n = t.numel()
        plain = not complex_ and not t.is_meta and t.layout == _STRIDED
        if plain and n <= self.max_values:
            try:
                values = t.tolist() if t.is_cpu else t.detach().cpu().tolist()
                return TensorSummary(shape, dname, requires_grad, fn_name, values=values)
            except (RuntimeError, TypeError, NotImplementedError):
                return TensorSummary(shape, dname, requires_grad, fn_name)
        nbytes = n * itemsize
        if not plain or nbytes * _DIRECT_SHARE > self.budget_bytes:
            return TensorSummary(shape, dname, requires_grad, fn_name, stats=compute_stats(t))
        try:
            clone = self._copy(t, n, dtype, nbytes)
        except (RuntimeError, TypeError, NotImplementedError):
            return TensorSummary(shape, dname, requires_grad, fn_name)
        deferred = _Deferred(clone, nbytes, self)
        with self._lock:
            self._pending[id(deferred)] = deferred
            self._count_pending(nbytes)
        if self._wants_thread():
            self._enforce_budget()
        return TensorSummary(shape, dname, requires_grad, fn_name, stats_source=deferred)

    def copy(self, t: torch.Tensor) -> torch.Tensor:
        """A copy of ``t`` (its shape, dtype and values) for the caller to read and then hand
        back (``give_back``): the optimizer's step compares the parameters with one."""
        n = t.numel()
        return self._copy(t, n, t.dtype, n * t.element_size()).view(t.shape)

    def give_back(self, copy: torch.Tensor) -> None:
        """``copy`` (from ``copy``) is no longer read: its buffer serves the next copies."""
        self._give_back(copy.view(-1) if copy.is_contiguous() else None)

    def _copy(self, t: torch.Tensor, n: int, dtype: torch.dtype, nbytes: int) -> torch.Tensor:
        """A copy of ``t``'s values for statistics later: into a buffer used before when one is free.

        A large copy freshly allocated is fresh memory to page in (the allocator maps a new
        region for it, or keeps freed ones and grows), and a training step makes several
        of the same sizes every step. Buffers whose statistics are done come back to a
        pool (``_give_back``), at most half the budget of them, and are reused by size.
        A new buffer is memory mapped apart from the allocator's heap (``_mapped_empty``).
        """
        # A buffer made under inference mode could not be written outside it: not pooled.
        if nbytes < POOLED_BYTES or not t.is_cpu or _inference_mode():
            return t.detach().clone()
        key = (n, dtype)
        with self._lock:
            free = self._pool.get(key)
            buffer = free.pop() if free else None
            if buffer is not None:
                self._pool_bytes -= nbytes
        if buffer is None:
            buffer = _mapped_empty(n, dtype, nbytes)
        buffer.view(t.shape).copy_(t.detach())
        return buffer

    def _give_back(self, clone: torch.Tensor | None) -> None:
        if clone is None or not clone.is_cpu or clone.dim() != 1 or clone.is_inference():
            return
        nbytes = clone.numel() * clone.element_size()
        if nbytes < POOLED_BYTES:
            return
        with self._lock:
            if self._pool_bytes + nbytes > self.budget_bytes // 2:
                return
            self._pool.setdefault((clone.numel(), clone.dtype), []).append(clone)
            self._pool_bytes += nbytes

    def _count_pending(self, nbytes: int) -> None:
        """A clone of ``abs(nbytes)`` bytes joins (positive) or leaves the waiting ones; under the lock."""
        self._pending_bytes += nbytes
        if abs(nbytes) >= POOLED_BYTES:
            self._pending_large += nbytes

    def _wants_thread(self) -> bool:
        """Whether the waiting clones call for the statistics thread (``WAKE_SHARE``)."""
        return self._pending_large > self._wake_bytes or self._pending_bytes > self.budget_bytes

    def _enforce_budget(self) -> None:
        """Over budget: statistics are computed on a second thread while the script runs on.

        torch releases the GIL while it reduces, so on a machine with two cores this
        takes the cost off the script's thread. If that thread falls behind by the whole
        budget, the script's thread helps, so the copies stay within the budget (with
        64 MiB and help only past twice that, the 2.1M-parameter benchmark model's peak
        memory was 0.2x of plain's higher, on a busy machine; ``DEFAULT_BUDGET_BYTES``).
        """
        self._ensure_materializer()
        with self._wakeup:
            self._wakeup.notify()
        while self._pending_bytes > self.budget_bytes:
            claimed = self._claim()
            if claimed is None:
                return
            self._compute(claimed)

    def settle(self) -> None:
        """Compute every pending statistic now, on the engine's threads, and return when done.

        Called in the script's thread before the engine reports a pause to the app: the
        summaries the app then reads are complete, and torch never runs on the UI's thread.
        The statistics thread works through the queue beside this one (two cores, and torch
        releases the GIL while it reduces): on the 2.1M-parameter benchmark model that took
        a forward key's p95 from 128 to 110 ms. With nothing pending (a tutorial) it returns
        at once, without starting that thread.
        """
        with self._wakeup:
            if not self._pending and not self._inflight:
                return
            self._draining = True
        self._ensure_materializer()
        with self._wakeup:
            self._wakeup.notify_all()
        try:
            while self.materialize_pending():
                pass
            with self._wakeup:
                while self._inflight:
                    self._wakeup.wait(0.05)
        finally:
            with self._wakeup:
                self._draining = False

    def _ensure_materializer(self) -> None:
        if self._materializer is None and not self._closing:
            self._materializer = threading.Thread(target=self._materialize_loop, name="gradtui-stats", daemon=True)
            self._materializer.start()

    def materialize_pending(self) -> bool:
        """Compute every statistic waiting now, together (``compute_stats_many``); False if none waited.

        The recording's writer calls this before it writes a batch of events, on its own
        thread: one pass over a batch's clones costs a few torch calls per tensor size, not
        a dozen per tensor, and those calls run without the GIL, beside the script.
        """
        with self._lock:
            if not self._pending:
                return False
            claimed = list(self._pending.values())
            self._pending.clear()
            self._pending_bytes = self._pending_large = 0
            self._inflight += len(claimed)
        try:
            held = [d for d in claimed if d.lock.acquire(blocking=False)]  # the others, a reader is computing
            try:
                work = [d for d in held if d.clone is not None]
                with torch._C.DisableTorchFunction():
                    results = compute_stats_many([d.clone for d in work])  # type: ignore[misc]
                for d, stats in zip(work, results):
                    d.result = stats
                    clone, d.clone = d.clone, None
                    if d.nbytes >= POOLED_BYTES:  # smaller copies were never the pool's
                        self._give_back(clone)
            finally:
                for d in held:
                    d.lock.release()
        finally:
            with self._wakeup:
                self._inflight -= len(claimed)
                self._wakeup.notify_all()
        return True

    def _claim(self) -> _Deferred | None:
        """Take the oldest pending clone off the queue: this thread alone computes it."""
        with self._lock:
            if not self._pending:
                return None
            _, claimed = self._pending.popitem(last=False)
            self._count_pending(-claimed.nbytes)
            self._inflight += 1
            return claimed

    def _compute(self, claimed: _Deferred) -> None:
        try:
            claimed()
        finally:
            with self._wakeup:
                self._inflight -= 1
                self._wakeup.notify_all()

    def _materialize_loop(self) -> None:
        while True:
            with self._wakeup:
                while not self._closing and not self._draining and not self._wants_thread():
                    self._wakeup.wait(0.5)
                if self._closing:
                    return
            if not self.materialize_pending():
                with self._wakeup:
                    self._wakeup.wait(0.01)  # draining, and nothing left to claim

    def close(self) -> None:
        """Stop the statistics thread (deferred statistics stay computable on demand).

        Joined, not abandoned: a thread inside torch while the interpreter exits makes
        torch's runtime abort.
        """
        with self._wakeup:
            self._closing = True
            self._wakeup.notify_all()
        if self._materializer is not None:
            self._materializer.join()
            self._materializer = None

    def _released(self, deferred: _Deferred) -> None:
        with self._lock:
            if self._pending.pop(id(deferred), None) is not None:
                self._count_pending(-deferred.nbytes)
