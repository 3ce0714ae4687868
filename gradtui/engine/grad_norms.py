"""Whether a gradient exploded or vanished, judged against the run's own history.

One absolute number cries wolf: the polynomial_autograd tutorial sums its loss over 2000
points, so its gradients have norms in the hundreds of thousands on every one of its
2000 healthy passes, while a tiny model's exploded gradient may be 1e3. So each
parameter is compared with itself, and with the other gradients of the same backward:

- a jump: a norm ``JUMP_FACTOR`` (three orders of magnitude) above the median of the
  same parameter's last ``WINDOW`` norms, once ``MIN_HISTORY`` are known. The median, so
  one earlier spike does not raise the bar for the next. (Healthy runs here: at most 29x.)
- growth: a norm larger than the one before at each of at least ``GROWTH_PASSES``
  backward passes in a row, and ``GROWTH_FACTOR`` times the norm where the rise began. A
  learning rate slightly too large diverges so, by a steady factor per step, without
  any single jump. Healthy runs rise for a while too (the polynomial tutorial's a.grad
  grows 30x over 48 passes while the others fall), hence the large total factor. Only
  fresh gradients count: one that backward() added to an old one grows by design.
- vanishing, the classic sense: a gradient whose size per element (norm / sqrt(numel),
  so a bias and a large matrix compare fairly) is under ``VANISH_RATIO`` of the largest
  one's in the same backward, in ``VANISH_PASSES`` passes in a row in which it received a
  gradient: layers far apart by six orders of magnitude, as a deep stack of sigmoids
  gives its first layer. A run that converges shrinks every gradient together, so the
  ratio holds and nothing is said; a scalar gradient crossing zero is small against the
  others for one pass (1e-5 of the largest, on dynamic_net), not for three.
  A gradient exactly zero is no evidence either way and restarts the count.

A jump or growth also needs the gradient to be at least ``EXPLODED_SHARE`` of the largest
of that backward (per element), so a parameter whose gradient was rounding noise (1e-12)
does not "explode" to 1e-6 while the others stay near 1.

``--grad-norm-above`` / ``--grad-norm-below`` are absolute limits the user sets; they are
off by default and, when set, apply in addition to the relative questions.

Each note is said once per parameter per episode: an explosion ends when the norm is
back within 10x of the typical norm it jumped from, a vanishing when the ratio is back
above 10x ``VANISH_RATIO``, a limit when the norm is back on the right side of it. A
loop that diverges is told once, not on every pass.

Cost per backward: per parameter, a few comparisons and a deque of ``WINDOW`` floats
(the median is sorted only when the norm beats the window's minimum by the jump factor);
at most ``MAX_TRACKED`` parameters are remembered.
This module sees plain numbers: it must not import torch.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from gradtui.model.formatting import format_number

WINDOW = 32
MIN_HISTORY = 8
JUMP_FACTOR = 1e3
GROWTH_PASSES = 10
GROWTH_FACTOR = 1e3
VANISH_RATIO = 1e-6
VANISH_PASSES = 3
EXPLODED_SHARE = 1e-3
#: Histories kept at most (each is a few hundred bytes).
MAX_TRACKED = 4096
#: An episode ends once the norm (or ratio) is back within this factor of normal.
RECOVERY = 10.0

EXPLODED_ADVICE = "a smaller learning rate, gradient clipping or normalised inputs usually help"


@dataclass(frozen=True, slots=True)
class GradNormLimits:
    """Absolute limits the user set: note a norm above ``above``, or non-zero below ``below``.

    ``None`` (the default) means no such limit.
    """

    above: float | None = None
    below: float | None = None


@dataclass(frozen=True, slots=True)
class GradSize:
    """One leaf's gradient in one backward: its name, norm (None without one) and element count.

    ``fresh`` is False when backward() added to a gradient an earlier one left.
    """

    name: str
    norm: float | None
    numel: int
    fresh: bool = True


@dataclass(slots=True)
class _History:
    """What is remembered of one parameter's gradients: a bounded window and a few counters."""

    norms: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    last: float | None = None
    rising: int = 0
    rise_start: float = 0.0
    exploded_from: float | None = None  # the typical norm before the explosion, while it lasts
    small_passes: int = 0
    vanished: bool = False
    above: bool = False
    below: bool = False


class GradNormWatch:
    """Follows every leaf's gradient norm across backward passes; says when one exploded or vanished."""

    def __init__(self, limits: GradNormLimits | None = None) -> None:
        self.limits = limits or GradNormLimits()
        self._histories: dict[str, _History] = {}

    def observe(self, grads: Sequence[GradSize]) -> list[str]:
        """The notes for one backward pass, whose leaves' gradients are ``grads``.

        One sentence per question, led by the first parameter it concerns; the others
        that answer the same way this pass are listed after it.
        """
        finite = [g for g in grads if g.norm is not None and math.isfinite(g.norm)]
        if not finite:
            return []
        sizes = {g.name: g.norm / math.sqrt(g.numel) for g in finite if g.norm and g.numel}
        largest = max(sizes, key=sizes.__getitem__) if len(sizes) > 1 else None
        found: dict[str, list[tuple[str, str]]] = {}
        for g in finite:
            norm = g.norm
            assert norm is not None
            h = self._history(g.name)
            # Passes in a row with a fresh gradient larger than the one before, this one included.
            rising = h.rising + 1 if g.fresh and h.last is not None and 0 < h.last < norm else 0
            small = largest is not None and sizes.get(g.name, 0.0) < EXPLODED_SHARE * sizes[largest]
            answers = [self._explosion(g.name, norm, rising, small, h), *self._limits(g.name, norm, h)]
            if largest is not None:
                answers.append(self._vanishing(g.name, sizes.get(g.name, 0.0), largest, sizes[largest], h))
            for answer in answers:
                if answer is not None:
                    found.setdefault(answer[0], []).append((g.name, answer[1]))
            _remember(norm, rising, h)
        return [_sentence(kind, found[kind]) for kind in _TAILS if kind in found]

    # ---------------------------------------------------------------- the questions

    def _history(self, name: str) -> _History:
        """The parameter's history, most recently seen last; the longest unseen is forgotten past
        ``MAX_TRACKED`` (a script that makes a new leaf every iteration names each anew)."""
        histories = self._histories
        h = histories.pop(name, None)
        if h is None:
            h = _History()
            if len(histories) >= MAX_TRACKED:
                del histories[next(iter(histories))]
        histories[name] = h
        return h

    def _explosion(self, name: str, norm: float, rising: int, small: bool, h: _History) -> tuple[str, str] | None:
        if h.exploded_from is not None:
            if norm <= RECOVERY * h.exploded_from:
                h.exploded_from = None  # back to normal: a later explosion is news again
            return None
        if norm <= 0 or small:
            return None
        window = h.norms
        if len(window) >= MIN_HISTORY and norm >= JUMP_FACTOR * min(window):
            ordered = sorted(window)
            median = ordered[len(ordered) // 2]
            if median > 0 and norm >= JUMP_FACTOR * median:
                h.exploded_from = median
                return "jump", (f"{name}.grad has norm {format_number(norm)}, {format_number(norm / median)} times "
                                f"its typical norm so far ({format_number(median)}, the median of its last "
                                f"{len(window)})")
        if rising >= GROWTH_PASSES and h.rise_start > 0 and norm >= GROWTH_FACTOR * h.rise_start:
            h.exploded_from = h.rise_start
            return "growth", (f"{name}.grad has grown at each of the last {rising} backward passes, from "
                              f"{format_number(h.rise_start)} to {format_number(norm)}")
        return None

    def _vanishing(self, name: str, size: float, largest: str, top: float, h: _History) -> tuple[str, str] | None:
        ratio = size / top
        if h.vanished:
            if ratio >= RECOVERY * VANISH_RATIO:
                h.vanished = False
                h.small_passes = 0
            return None
        h.small_passes = h.small_passes + 1 if 0 < ratio < VANISH_RATIO else 0
        if h.small_passes < VANISH_PASSES:
            return None
        h.vanished = True
        return "vanish", (f"{name}.grad is {format_number(ratio)} times the size of {largest}.grad per element "
                          f"({format_number(size)} against {format_number(top)}), {h.small_passes} backward passes "
                          "in a row")

    def _limits(self, name: str, norm: float, h: _History) -> list[tuple[str, str]]:
        above, below = self.limits.above, self.limits.below
        found = []
        if above is not None:
            if norm > above and not h.above:
                found.append(("above", f"{name}.grad has norm {format_number(norm)}, above the limit "
                                       f"{format_number(above)}"))
            h.above = norm > above
        if below is not None and norm > 0:
            if norm < below and not h.below:
                found.append(("below", f"{name}.grad has norm {format_number(norm)}, below the limit "
                                       f"{format_number(below)}"))
            h.below = norm < below
        return found


#: How each kind of sentence ends, in the order the sentences are given.
_TAILS = {
    "jump": f"the gradient exploded ({EXPLODED_ADVICE})",
    "growth": f"the gradient is exploding and the run diverges ({EXPLODED_ADVICE})",
    "vanish": "the gradient vanished on its way back through the layers, and a parameter with a gradient this "
              "small barely moves (saturated sigmoid or tanh layers in a deep stack are the usual cause; ReLU, "
              "normalisation layers or residual connections help)",
    "above": "you asked to hear of it (--grad-norm-above)",
    "below": "you asked to hear of it (--grad-norm-below)",
}
#: At most this many other names after the first.
_OTHERS_SHOWN = 4


def _sentence(kind: str, found: Sequence[tuple[str, str]]) -> str:
    (_, lead), others = found[0], [name + ".grad" for name, _ in found[1:]]
    if len(others) > _OTHERS_SHOWN:
        others = [*others[:_OTHERS_SHOWN], f"{len(others) - _OTHERS_SHOWN} more"]
    likewise = ""
    if others:
        likewise = f" (likewise {', '.join(others[:-1])} and {others[-1]})" if len(others) > 1 else \
            f" (likewise {others[0]})"
    return f"{lead}{likewise}: {_TAILS[kind]}."


def _remember(norm: float, rising: int, h: _History) -> None:
    """Add this pass to the window; a rise starts from the last norm that was not exceeded."""
    if norm <= 0:
        h.last, h.rising = None, 0
        return
    if rising == 0:
        h.rise_start = norm
    h.rising, h.last = rising, norm
    h.norms.append(norm)
