"""The script's variables at each of its line events, as ``ScopeDelta``s of its frames.

The variables panel shows a frame's variables at any event, live, in history and in
replay, so the timeline keeps them; keeping every variable at every line would cost more
than the rest of the recording. So at each line event of a frame of the script's own code
(read where the watched values are: before the line runs, so they are the effects of the
lines that ran) the frame's variables are compared with what was recorded for it last, by
their signatures (``gradtui.engine.var_signatures``), and only the names bound anew or
whose value changed are described (``Describer``; tensors through the run's capture,
which reuses a summary while a tensor is unchanged). A line that changed nothing still
carries an empty delta, so a reader knows the frame and where to fold back from.

Which variables: a function frame's locals, a module frame's globals; of those, the ones
whose value says something about training (tensors, modules, optimizers, schedulers,
numbers, strings, dtypes and devices, and lists, tuples, dicts and sets), never a dunder
name or a comprehension's hidden iterator. Everything the ``Describer`` would show as an
``"object"`` is left out: the modules, functions and classes a script imports (from torch
or anywhere), typing objects, and the script's own objects, whose ``repr`` would run the
script's code.

Frames are numbered from 1 in the order the run first reaches a line of them. A frame is
known by the frame object while it runs and forgotten when it returns (CPython reuses the
memory of a dead frame); a generator's frame is kept while it is suspended, and dropped
once nothing but this module holds it. What must not happen here: reading ``.grad`` of a
non-leaf (torch warns, into the script's stderr), changing a frame, or failing the script
because one of its values cannot be described. Callers run with torch functions disabled.
"""

from __future__ import annotations

import dis
import inspect
import sys
from collections.abc import Mapping
from types import FrameType, MappingProxyType
from typing import Any

from gradtui.engine.codefilter import CodeFilter, CodeKind
from gradtui.engine.frame_scan import frame_namespace
from gradtui.engine.var_signatures import CONTAINER, KINDS, MODULE, OPTIMIZER, SKIP, TENSOR, kind_of, signature
from gradtui.engine.var_values import Describer
from gradtui.model.variables import KEYFRAME_EVERY, FrameRef, Refreshed, ScopeDelta, Var

#: The instruction a generator's frame is at when it yields: YIELD_VALUE up to Python 3.12;
#: from 3.13 the frame already points at the RESUME after it (a frame that returns for good
#: is at its RETURN_VALUE or RETURN_CONST).
_YIELDED = frozenset({dis.opmap["YIELD_VALUE"]} | ({dis.opmap["RESUME"]} if sys.version_info >= (3, 13) else set()))
_GENERATOR = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_NOTHING: Mapping[str, Var | Refreshed] = MappingProxyType({})
_MISSING = object()
_SHARED = frozenset((TENSOR, MODULE, OPTIMIZER))
_REFRESHED = frozenset((MODULE, OPTIMIZER))
#: The shared descriptions are forgotten when there are this many.
_SHARED_SIZE = 2048
#: After this many frames entered, suspended generators nothing else holds are forgotten.
_SWEEP_EVERY = 256
#: A full delta lists at most this many callers (the stack panel shows the innermost ones).
MAX_CALLERS = 64


def _only_longer(old: Any, sig: Any) -> bool:
    """Whether a container's signature differs from ``old`` in its length alone: the same
    type and the same first ``MAX_MEMBERS`` items (a list the script appends to in a loop,
    past what the panel shows), so its description keeps its members."""
    return type(old) is tuple and len(old) == len(sig) and old[0] is sig[0] and old[2:] == sig[2:]


class _Frame:
    """What was recorded of one live frame: per variable its signature, its references, its ``Var``."""

    __slots__ = ("serial", "frame", "sigs", "keep", "vars", "since", "deltas", "suspended")

    def __init__(self, serial: int, frame: FrameType) -> None:
        self.serial = serial
        #: Held so that its id is not reused while it is known; dropped when it returns.
        self.frame = frame
        self.sigs: dict[str, Any] = {}
        #: Per variable, the weak references its signature's ids rely on.
        self.keep: dict[str, list[Any]] = {}
        self.vars: dict[str, Var | Refreshed] = {}
        #: The seq of the frame's last line event whose delta changed something or was full.
        self.since: int | None = None
        #: The frame's non-empty deltas so far (the first and every KEYFRAME_EVERY-th are full).
        self.deltas = 0
        self.suspended = False


class FrameVariables:
    """The variables of the script's live frames, and the delta of each line event."""

    def __init__(self, describer: Describer, code_filter: CodeFilter) -> None:
        self._describer = describer
        self._filter = code_filter
        self._frames: dict[int, _Frame] = {}
        self._serials = 0
        self._looked: _Frame | None = None
        #: signature -> (its references, the Var): values seen from several frames are described once.
        self._shared: dict[Any, tuple[list[Any], Var | Refreshed]] = {}

    def look(self, frame: FrameType) -> ScopeDelta:
        """The delta of ``frame``'s line event about to be emitted; then call ``recorded`` with its seq."""
        state = self._frames.get(id(frame))
        if state is None:
            state = self._enter(frame)
        state.suspended = False
        first = state.deltas == 0
        sigs, vars_ = state.sigs, state.vars
        new_sigs: dict[str, Any] = {}
        new_keep: dict[str, list[Any]] = {}
        changed: dict[str, Var | Refreshed] = {}
        known = 0
        kinds = KINDS
        for name, value in list(frame_namespace(frame).items()):
            kind = kinds.get(type(value))
            if kind is None:
                kind = kind_of(value)
            if kind == SKIP:  # most of a module's globals are imports: the kind first, then the name
                continue
            refs: list[Any] = []
            try:
                if name[:1] in "_." and (name[:1] == "." or name[:2] == "__" == name[-2:]):
                    continue  # (a name set through globals() may be no string: then it is left out)
                old = sigs.get(name, _MISSING)
                sig = signature(value, kind, refs)
                if old != sig:
                    was = vars_.get(name)
                    if kind == CONTAINER and _only_longer(old, sig) and isinstance(was, Var):
                        changed[name] = vars_[name] = self._describer.resized(was, sig[1])
                    else:
                        changed[name] = vars_[name] = self._describe(value, kind, sig, refs, was)
            except Exception:  # a value torch cannot read (an odd subclass): leave it out
                continue
            if old is not _MISSING:
                known += 1
            new_sigs[name] = sig
            new_keep[name] = refs
        gone: tuple[str, ...] = ()
        if known != len(sigs):
            gone = tuple(name for name in sigs if name not in new_sigs)
            for name in gone:
                del vars_[name]
        state.sigs, state.keep = new_sigs, new_keep
        self._looked = state
        if not changed and not gone and not first:
            return ScopeDelta(state.serial, state.since, _NOTHING)
        state.deltas += 1
        if first or (state.deltas - 1) % KEYFRAME_EVERY == 0:
            everything = {name: vars_[name] for name in new_sigs}
            # A full delta keeps ``since`` too (None only for the frame's first): a variable's
            # history is followed past it.
            return ScopeDelta(state.serial, state.since, everything, full=True, callers=self._callers(frame))
        return ScopeDelta(state.serial, state.since, changed, gone)

    def _describe(self, value: Any, kind: int, sig: Any, refs: list[Any],
                  was: Var | Refreshed | None) -> Var | Refreshed:
        """The ``Var`` of ``value``, reused when a tensor, module or optimizer has the signature it had
        in another frame or at another time (a module's forward sees ``self`` at each call).

        A module or optimizer the name held before (``was``) is refreshed where only its
        tensors changed (``Refreshed``): the steps of a training loop change nothing else.
        """
        if kind not in _SHARED:
            return self._describer.describe(value)
        cache = self._shared
        hit = cache.get(sig)
        if hit is not None:
            return hit[1]
        var: Var | Refreshed | None = None
        if was is not None and kind in _REFRESHED:
            var = self._describer.refresh(value, was.template if isinstance(was, Refreshed) else was)
        if var is None:
            var = self._describer.describe(value)
        if len(cache) >= _SHARED_SIZE:
            cache.clear()
        cache[sig] = (refs, var)  # the references keep the signature's ids unique while it is a key
        return var

    def recorded(self, delta: ScopeDelta, seq: int) -> None:
        """The line event carrying the last ``look``'s ``delta`` was appended as ``seq``."""
        state = self._looked
        if state is not None and not delta.empty:
            state.since = seq

    def returned(self, frame: FrameType) -> None:
        """``frame`` returned: forget it, unless it is a generator's that only yielded."""
        key = id(frame)
        state = self._frames.get(key)
        if state is None:
            return
        code = frame.f_code
        if code.co_flags & _GENERATOR and frame.f_lasti >= 0 and code.co_code[frame.f_lasti] in _YIELDED:
            state.suspended = True
            return
        del self._frames[key]

    def _enter(self, frame: FrameType) -> _Frame:
        self._serials += 1
        if self._serials % _SWEEP_EVERY == 0:
            self._sweep()
        state = self._frames[id(frame)] = _Frame(self._serials, frame)
        return state

    def _sweep(self) -> None:
        """Forget the suspended generators no one else holds (a generator dropped before its end)."""
        for key, state in list(self._frames.items()):
            # One reference in the state, one as the argument: no generator holds the frame.
            if state.suspended and sys.getrefcount(state.frame) <= 2:
                del self._frames[key]

    def _callers(self, frame: FrameType) -> tuple[FrameRef, ...]:
        """The script's frames that called ``frame``, innermost first, each at the line it is at.

        At most ``MAX_CALLERS``: a deep recursion would otherwise walk (and record) its whole
        stack at every call, which made a 1,000-deep one run for minutes.
        """
        out: list[FrameRef] = []
        caller = frame.f_back
        while caller is not None and len(out) < MAX_CALLERS:
            filename = caller.f_code.co_filename
            if self._filter.kind(filename) is CodeKind.USER:
                state = self._frames.get(id(caller)) or self._enter(caller)
                out.append(FrameRef(state.serial, caller.f_code.co_name, self._filter.display(filename),
                                    caller.f_lineno))
            caller = caller.f_back
        return tuple(out)
