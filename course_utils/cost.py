"""What a forward pass costs: floating-point operations, in total and per child module.

``models.count_parameters`` says how big a network is; these say how much work one image
takes, which is what the lessons compare when a dilated or strided network has fewer
parameters but more (or less) computation.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["count_flops", "count_flops_per_child"]


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Floating-point operations of one forward pass on an input of ``input_shape``.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions, transposed
    convolutions and matrix products, two operations per multiply-add (so a 3x3 convolution
    from ``c_in`` to ``c_out`` channels costs ``2 * 9 * c_in * c_out`` per output pixel).
    BatchNorm, ReLU, pooling, upsampling and concatenation are not counted: they are cheap
    next to the convolutions. The model runs once in eval mode without gradients, on the
    device of its parameters, and is put back into the mode it was in.

    Args:
        model: any module that accepts one tensor.
        input_shape: the full input shape including the batch, e.g. ``(1, 3, 64, 64)``.

    Returns:
        The total count, an ``int``; it grows linearly with the batch size.

    Raises:
        ValueError: if ``input_shape`` is not a sequence of positive integers.
    """
    return _flop_counts(model, input_shape)[""]


def count_flops_per_child(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """``count_flops`` split by the model's direct children, e.g. ``{"encoder": ..., "down":
    ..., "head": ...}`` in the order of ``named_children``; children that compute nothing
    countable (pooling, upsampling) map to 0. Same arguments and errors as ``count_flops``."""
    counts = _flop_counts(model, input_shape)
    return {name: counts.get(name, 0) for name, _ in model.named_children()}


def _flop_counts(model: nn.Module, input_shape) -> dict[str, int]:
    """{"": total, child name: flops} of one forward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    shape = tuple(input_shape) if isinstance(input_shape, tuple | list | torch.Size) else None
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0
                            for n in shape):
        raise ValueError(f"input_shape must be a tuple of positive integers including the "
                         f"batch, e.g. (1, 3, 64, 64); got {input_shape!r}")
    param = next(model.parameters(), None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False, depth=None) as counter:
            # new_zeros: the input lands on the parameters' device, whichever that is
            model(torch.zeros(shape) if param is None else param.new_zeros(shape))
    finally:
        model.train(was_training)
    per_module = {key: int(sum(per_op.values()))
                  for key, per_op in counter.get_flop_counts().items()}
    counts = {"": int(counter.get_total_flops())}
    # keys are dotted module paths under the class name; a ModuleList is never called itself,
    # so a child's count is the sum over its outermost recorded submodules
    root = type(model).__name__
    for name, _ in model.named_children():
        prefix = f"{root}.{name}"
        keys = [k for k in per_module if k == prefix or k.startswith(prefix + ".")]
        counts[name] = sum(per_module[k] for k in keys
                           if not any(k.startswith(o + ".") for o in keys))
    return counts
