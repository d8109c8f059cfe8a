"""Receptive fields: by formula for a chain of convolutions, and measured with gradients.

The receptive field of an output pixel is the set of input pixels it depends on. For a
chain of layers with kernel sizes k_l, strides s_l and dilations d_l its width is

    r = 1 + sum_l d_l * (k_l - 1) * (s_1 * ... * s_{l-1})

(each layer widens it by its dilated kernel's reach, measured in input pixels). Any network,
chain or not, can be measured instead: the pixels where the gradient of one output pixel
with respect to the input is non-zero are exactly the pixels it depends on.

How *much* it depends on each is another matter: Luo et al. (NeurIPS 2016) found the
gradient's mass concentrated in a small centre of that field, the *effective* receptive
field. ``gradient_mass`` gives the map, ``effective_radius`` the half-width of the square
that holds a given share of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["effective_radius", "gradient_mass", "gradient_support", "measured_receptive_field",
           "receptive_field", "split_gradient_support"]


def receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int] | None = None,
                    dilations: Sequence[int] | None = None) -> int:
    """Width of the receptive field of a chain of convolutions (or poolings), by formula.

    Args:
        kernel_sizes: kernel size of each layer, first layer first.
        strides: stride of each layer (default all 1).
        dilations: dilation of each layer (default all 1).

    Returns:
        The width in input pixels, e.g. 7 for three 3x3 convolutions.
    """
    kernel_sizes = list(kernel_sizes)
    if not kernel_sizes:
        raise ValueError("kernel_sizes is empty; give one kernel size per layer")
    n = len(kernel_sizes)
    strides = [1] * n if strides is None else list(strides)
    dilations = [1] * n if dilations is None else list(dilations)
    for name, values in (("kernel_sizes", kernel_sizes), ("strides", strides),
                         ("dilations", dilations)):
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries but kernel_sizes has {n}")
        bad = [v for v in values if not isinstance(v, int) or v < 1]
        if bad:
            raise ValueError(f"{name} must be positive integers, got {bad[0]!r}")
    width, jump = 1, 1
    for k, s, d in zip(kernel_sizes, strides, dilations, strict=True):
        width += d * (k - 1) * jump
        jump *= s
    return width


def gradient_support(model: nn.Module, input_size: int | tuple[int, int], in_channels: int = 3,
                     samples: int = 4, seed: int = 0) -> torch.Tensor:
    """Input pixels that the centre output pixel depends on, as a boolean ``(H, W)`` map.

    The centre pixel of every output channel is summed, back-propagated to ``samples``
    random inputs, and a pixel counts as seen where any sample or channel has a non-zero
    gradient. Several samples keep a ReLU that happens to be off for one input from hiding
    a pixel. The model runs in eval mode (BatchNorm uses its running statistics); its
    mode is restored afterwards and its parameters' gradients are left untouched.

    Args:
        model: maps ``(N, in_channels, H, W)`` to ``(N, C, H, W)``.
        input_size: ``H`` (square) or ``(H, W)``; pick it larger than the receptive field.
        in_channels: channels the model expects.
        samples: random inputs to combine.
        seed: seed of the random inputs.
    """
    grad = _centre_gradient(model, input_size, in_channels, samples, seed)
    return (grad.abs().sum(dim=(0, 1)) > 0).cpu()


def split_gradient_support(model: nn.Module, input_size: int | tuple[int, int],
                           in_channels: int = 3, samples: int = 4,
                           seed: int = 0) -> tuple[torch.Tensor, bool]:
    """The centre output pixel's dependence on the input, split into a local and a global part.

    A global average pooling branch (ASPP's image pooling) passes the same gradient back to
    every input pixel, so ``gradient_support`` of such a model is the whole input. This
    function removes, per sample and input channel, the value most pixels share (the
    median), and returns where the gradient differs from it: the pixels the model sees
    *locally*, through its convolutions. It works for a block whose pooling branch reads the
    input directly; behind other layers the pooled gradient is no longer uniform.

    Args:
        as in ``gradient_support``; pick ``input_size`` more than twice the local receptive
        field, so that most pixels lie outside it.

    Returns:
        ``(support, reaches_everywhere)``: the boolean ``(H, W)`` map of the local part, and
        whether every input pixel also changes the centre output through a global part.
    """
    grad = _centre_gradient(model, input_size, in_channels, samples, seed).double()
    shared = grad.flatten(2).median(dim=2).values[..., None, None]
    local = (grad - shared).abs().sum(dim=(0, 1))
    # a convolution's backward pass may leave rounding noise where the exact value is zero
    tol = 1e-9 * max(local.max().item(), shared.abs().max().item())
    return (local > tol).cpu(), bool((shared.abs() > tol).any())


def _centre_gradient(model: nn.Module, input_size: int | tuple[int, int], in_channels: int,
                     samples: int, seed: int) -> torch.Tensor:
    """Gradient ``(samples, in_channels, H, W)`` of the summed centre output pixel."""
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if h < 1 or w < 1 or samples < 1:
        raise ValueError(f"input_size and samples must be positive, got {input_size!r} "
                         f"and {samples}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(seed)
    # zero-mean inputs: an all-positive input can switch off every ReLU of a small layer
    x = torch.randn(samples, in_channels, h, w, generator=generator).to(device)
    x.requires_grad_(True)
    return _gradient_at_centre(model, x)


def measured_receptive_field(model: nn.Module, input_size: int | tuple[int, int],
                             in_channels: int = 3, samples: int = 4,
                             seed: int = 0) -> tuple[int, int]:
    """Height and width of the box around ``gradient_support``: the measured receptive field.

    Raises:
        ValueError: if the support reaches the border of the input, where the true receptive
            field may be cut off; measure again with a larger ``input_size``.
    """
    support = gradient_support(model, input_size, in_channels, samples, seed)
    rows = support.any(dim=1).nonzero().flatten()
    cols = support.any(dim=0).nonzero().flatten()
    if len(rows) == 0:
        return 0, 0
    h, w = support.shape
    if rows[0] == 0 or cols[0] == 0 or rows[-1] == h - 1 or cols[-1] == w - 1:
        raise ValueError(f"the receptive field reaches the border of the {h}x{w} input and may "
                         f"be cut off; measure with a larger input_size")
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def gradient_mass(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Mean over ``inputs`` of |d(centre output pixel) / d(input pixel)|, as an ``(H, W)`` map.

    The centre pixel of every output channel is summed and back-propagated, the absolute
    gradient summed over the input channels and averaged over the images. The model runs in
    eval mode (restored afterwards); its parameters' gradients are left untouched.

    Args:
        model: maps ``(N, C, H, W)`` to ``(N, K, H, W)``.
        inputs: a batch ``(N, C, H, W)`` on the model's device (real images, or noise).

    Returns:
        A float ``(H, W)`` map on the CPU.
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be a batch (N, C, H, W), got shape {tuple(inputs.shape)}")
    h, w = inputs.shape[-2:]
    x = inputs.detach().float().clone().requires_grad_(True)
    grad = _gradient_at_centre(model, x)
    return grad.abs().sum(dim=1).mean(dim=0).detach().cpu()


def effective_radius(grad_map: torch.Tensor, mass: float = 0.9) -> int:
    """Smallest ``r`` such that the ``(2r + 1)``-wide square centred on pixel
    ``(H // 2, W // 2)`` holds at least ``mass`` of the total absolute gradient.

    The square is cut off at the map's border; if even the whole map falls short (it
    cannot, for ``mass <= 1``), the largest radius is returned.

    Args:
        grad_map: a 2-D map ``(H, W)``; its absolute values are used.
        mass: the share to hold, in (0, 1].

    Returns:
        The radius in pixels; the effective receptive field is ``2r + 1`` wide. 0 for a
        map that is zero everywhere.
    """
    if grad_map.ndim != 2:
        raise ValueError(f"grad_map must be 2-D (H, W), got shape {tuple(grad_map.shape)}")
    if not 0 < mass <= 1:
        raise ValueError(f"mass is a share in (0, 1], got {mass!r}")
    a = grad_map.detach().abs().double().cpu()
    total = a.sum().item()
    h, w = a.shape
    cy, cx = h // 2, w // 2
    largest = max(cy, h - 1 - cy, cx, w - 1 - cx)
    if total == 0:
        return 0
    for r in range(largest + 1):
        inside = a[max(cy - r, 0):cy + r + 1, max(cx - r, 0):cx + r + 1].sum().item()
        if inside >= mass * total * (1 - 1e-12):
            return r
    return largest


def _gradient_at_centre(model, x: torch.Tensor) -> torch.Tensor:
    """Gradient of the centre output pixel (summed over the batch) w.r.t. ``x``, in eval
    mode (the model's mode is restored)."""
    h, w = x.shape[-2:]
    was_training = model.training
    model.eval()
    try:
        out = model(x)
    finally:
        model.train(was_training)
    if out.ndim != 4 or out.shape[-2:] != (h, w):
        raise ValueError(f"the output {tuple(out.shape)} does not keep the input size "
                         f"{(h, w)}; the centre pixel would not line up with the input's")
    (grad,) = torch.autograd.grad(out[:, :, h // 2, w // 2].sum(), x)
    return grad
