"""A simulated accelerator, so that a CPU-only CI catches what fails on a student's GPU.

On a GPU kernel, a model left on the CPU, a target that was never moved or a CUDA tensor
handed to NumPy stops a lesson with a device error. On a CPU, where ``DEVICE`` is the CPU,
the same code runs fine, so CI would never see it. With ``COURSE_DEVICE_AUDIT=1``,
``config.get_device()`` returns ``AUDIT_DEVICE`` (``cpu:0``) instead and installs
``DeviceAudit``, a ``TorchFunctionMode`` that keeps track of which tensors have been moved
to that device (``.to(DEVICE)``, ``model.to(DEVICE)``, ``device=DEVICE``, and everything
computed from them) and raises, as CUDA would, when one operation mixes such tensors with
tensors that stayed on the CPU. Computation itself still runs on the CPU, so every number
is what a plain CPU run gives.

What it models: PyTorch's device rules for dense tensors: zero-dimensional CPU tensors mix
freely; indexing with a CPU index is allowed; ``Tensor.numpy()`` needs the CPU. What it
cannot see: code that never reaches PyTorch's Python dispatch (C++ autograd internals).
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["AUDIT_DEVICE", "DeviceAudit", "DeviceAuditError", "install"]

AUDIT_DEVICE = torch.device("cpu", 0)
_CPU = torch.device("cpu")
# Operations that accept tensors on two devices (a CPU index into a GPU tensor, copies).
_COPIES = {"__deepcopy__", "__reduce_ex__", "__getstate__", "__setstate__", "clone",
           "detach", "requires_grad_"}
_MIXING_ALLOWED = {"__getitem__", "__setitem__", "copy_", "to", "_has_compatible_shallow_copy_type",
                   "__set__", "new_tensor", "equal"}


def _is(func, descriptor, method: str) -> bool:
    """Whether ``func`` is ``descriptor.<method>`` (a new method-wrapper on every access)."""
    return getattr(func, "__self__", None) is descriptor and func.__name__ == method


class DeviceAuditError(RuntimeError):
    """An operation mixed tensors on the simulated accelerator with CPU tensors."""


def _device_of(value) -> torch.device | None:
    if isinstance(value, torch.device):
        return value
    if isinstance(value, str):
        try:
            return torch.device(value)
        except RuntimeError:
            return None  # a dtype name or memory format, not a device
    return None


class DeviceAudit(TorchFunctionMode):
    """Tracks the tensors on ``AUDIT_DEVICE`` and fails operations that mix devices."""

    def __init__(self):
        super().__init__()
        self.on_device = WeakIdKeyDictionary()

    def moved(self, t) -> bool:
        return isinstance(t, torch.Tensor) and t in self.on_device

    def _mark(self, value, on_device: bool):
        for t in tree_flatten(value)[0]:
            if isinstance(t, torch.Tensor):
                if on_device:
                    self.on_device[t] = True
                else:
                    self.on_device.pop(t, None)
        return value

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _is(func, torch.Tensor.device, "__get__"):
            return AUDIT_DEVICE if self.moved(args[0]) else func(*args)
        if _is(func, torch.Tensor.data, "__get__"):  # ``.data`` aliases the same storage
            return self._mark(func(*args), self.moved(args[0]))
        if _is(func, torch.Tensor.grad, "__get__"):  # autograd builds gradients where their tensor lives
            grad = func(*args)
            return self._mark(grad, True) if grad is not None and self.moved(args[0]) else grad
        if _is(func, torch.Tensor.data, "__set__"):  # module.to() swaps a parameter's data in place
            func(*args)
            self._mark(args[0], self.moved(args[1]))
            return None
        name = getattr(func, "__name__", "")
        target = None
        if name == "to":
            target = next((d for a in (*args[1:], kwargs.get("device")) if (d := _device_of(a))),
                          None)
            other = next((a for a in args[1:] if isinstance(a, torch.Tensor)), None)
            if target is None and other is not None:
                target = AUDIT_DEVICE if self.moved(other) else _CPU
        elif name == "cpu":
            target = _CPU
        elif "device" in kwargs and _device_of(kwargs["device"]) is not None:
            target = _device_of(kwargs["device"])
        if target is not None:
            to_audit = target == AUDIT_DEVICE
            kwargs = {**kwargs, "device": _CPU} if "device" in kwargs else kwargs
            args = tuple(_CPU if _device_of(a) == AUDIT_DEVICE else a for a in args)
            out = func(*args, **kwargs)
            if name in ("to", "cpu") and out is args[0] and self.moved(out) != to_audit:
                out = out.view_as(out)  # a new tensor object: the "copy" on the other device
            return self._mark(out, to_audit)
        if name in _COPIES:  # copy.deepcopy and pickling: the copy lives where the original does
            return self._mark(func(*args, **kwargs), self.moved(args[0]))
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        on = [t for t in tensors if self.moved(t)]
        if on and name in ("numpy", "__array__"):
            raise DeviceAuditError(
                "device audit: a tensor on DEVICE was handed to NumPy. On a GPU this fails "
                "with \"can't convert cuda:0 device type tensor to numpy\"; call .cpu() first.")
        off = [t for t in tensors if not self.moved(t) and t.dim() > 0]
        if on and off and name not in _MIXING_ALLOWED:
            shapes = ", ".join(str(tuple(t.shape)) for t in off[:3])
            raise DeviceAuditError(
                f"device audit: {name or func} got tensors on DEVICE and on the CPU "
                f"(CPU: {shapes}). On a GPU this fails with 'Expected all tensors to be on the "
                f"same device'. Move the model with model.to(DEVICE) and every tensor it "
                f"meets with .to(DEVICE).")
        out = func(*args, **kwargs)
        return self._mark(out, True) if on else out


_installed: DeviceAudit | None = None


def install() -> DeviceAudit:
    """Enter the audit for the rest of the process (idempotent) and return it."""
    global _installed
    if _installed is None:
        _installed = DeviceAudit()
        _installed.__enter__()
        _parameters_follow_their_data(_installed)
    return _installed


def _parameters_follow_their_data(audit: DeviceAudit) -> None:
    """``nn.Parameter(t)`` (as in ``copy.deepcopy(model)``) wraps ``t`` without passing
    through the mode: a parameter made from a tensor on DEVICE is on DEVICE."""
    new = torch.nn.Parameter.__new__

    def audited_new(cls, data=None, requires_grad=True):
        param = new(cls, data, requires_grad)
        if data is not None and audit.moved(data):
            audit._mark(param, True)
        return param

    torch.nn.Parameter.__new__ = staticmethod(audited_new)

