"""The script's tensor operations and hand-made parameter updates, as event fields.

The function mode (``gradtui.engine.ops``), the ``Function.apply`` patch and
``ManualUpdates`` decide *that* a call is the script's operation; this module turns it
into an ``op`` or ``update`` event (the names of its arguments, a summary of its output,
its module, its piece of the graph, the autocast dtype and inference mode it ran under)
and hands it to the recorder, which appends it and passes the gate. It records only what
it is given: deciding whose call it was is ``gradtui.engine.attribution``'s.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch

from gradtui.engine.attribution import Attribution
from gradtui.engine.capture import TensorCapture, grad_fn_name
from gradtui.engine.graph import GraphRecorder
from gradtui.engine.modules import ModuleLocator
from gradtui.engine.naming import Namer
from gradtui.engine.recorder import Recorder
from gradtui.engine.tensors import describe_args, first_tensor
from gradtui.model.events import Change, OpCalled, ParamsUpdated

_no_torch_function = torch._C.DisableTorchFunction
#: One C call per op answers "is any autocast region active?"; the usual answer is no.
_any_autocast = torch._C._is_any_autocast_enabled
_is_inference = torch.is_inference_mode_enabled
_autocast_enabled = torch.is_autocast_enabled
_autocast_dtype = torch.get_autocast_dtype
_DTYPE_NAMES: dict[torch.dtype, str] = {}


def autocast_dtype(t: torch.Tensor) -> str | None:
    """The dtype autocast runs ops on ``t``'s device in (``bfloat16``), or None outside a region.

    Asked after the op returned: entering or leaving a region is not an op, so the state
    is the one the op ran in. Only inside some region does it cost more than one call.
    """
    if not _any_autocast():
        return None
    device = "cpu" if t.is_cpu else t.device.type
    if not _autocast_enabled(device):
        return None
    dtype = _autocast_dtype(device)
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype).removeprefix("torch.")
    return name


class OpEvents:
    """Records one operation or update of the script as an event."""

    def __init__(self, recorder: Recorder, attribution: Attribution, capture: TensorCapture, namer: Namer,
                 modules: ModuleLocator, graph: GraphRecorder) -> None:
        self._recorder = recorder
        self._attribution = attribution
        self._capture = capture
        self._namer = namer
        self._modules = modules
        self._graph = graph

    def record_op(self, frame: FrameType, name: str, args: Any, kwargs: Any, out: Any, grad_enabled: bool) -> None:
        t = first_tensor(out)
        if t is None:
            return
        with _no_torch_function():
            index = self._namer.index(frame)
            described = describe_args(args, kwargs, index.name)
            output = self._capture.summarize(t)
            fn = grad_fn_name(t)
            module, module_class = (self._modules.locate(sys._getframe(1), frame) if t.grad_fn is not None
                                    else (None, None))
            graph = self._graph.record(t, index.name, module, module_class)
        file, line = self._recorder.at(frame)
        # Inference mode switches grad mode off too, so only an op without grad mode can be under it.
        inference = not grad_enabled and _is_inference()
        self._recorder.emit(OpCalled, file, line, op=name, grad_fn=fn, grad_enabled=grad_enabled, args=described,
                            output=output, graph=graph, autocast=autocast_dtype(t), inference=inference)

    def record_update(self, frame: FrameType, op: str, args: tuple[str, ...], grad_enabled: bool,
                      through_data: bool, params: dict[str, Change]) -> None:
        """Parameters the script changed in place (found by ``ManualUpdates``)."""
        file, line = self._recorder.at(frame)
        self._recorder.emit(ParamsUpdated, file, line, op=op, args=args, grad_enabled=grad_enabled,
                            through_data=through_data, params=params)

    def run_function_apply(self, original: Callable[..., Any], cls: type, args: Any, kwargs: Any) -> Any:
        """A user-defined autograd ``Function`` applied: the function mode does not see it."""
        if not self._attribution.in_script_thread():
            return original(cls, *args, **kwargs)
        frame = self._attribution.user_op_frame(sys._getframe(2))
        grad_enabled = torch.is_grad_enabled()
        out = original(cls, *args, **kwargs)
        if frame is not None:
            self.record_op(frame, cls.__name__, args, kwargs, out, grad_enabled)
        return out
