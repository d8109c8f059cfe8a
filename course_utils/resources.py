"""Memory on a shared machine: what a lesson has used so far, and handing the GPU back.

On a hub many students share one GPU, so each lesson says at its start how much it holds
(and how much of the GPU is free) and, at its end, releases what PyTorch's caching allocator
still keeps::

    resources.print_memory_use(DEVICE)   # first cells
    resources.release_memory(DEVICE)     # last cell

Peak figures are the process's own: ``ru_maxrss`` for CPU memory (resident set size, the
high-water mark since the kernel started) and ``torch.cuda.max_memory_allocated`` for the
GPU (tensors only; the allocator's cache and the CUDA context come on top).
"""

from __future__ import annotations

import gc
import sys

import torch

__all__ = ["memory_use", "peak_memory", "peak_rss", "print_memory_use", "release_memory"]

MIB = 2**20


def peak_rss() -> int | None:
    """Peak resident memory of this process in bytes, or ``None`` where the platform
    cannot say (Windows has no ``resource`` module)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes; Linux: KiB


def peak_memory() -> dict[str, int | None]:
    """This process's high-water marks in bytes: ``peak_rss``, and ``peak_gpu`` (tensors on
    the current CUDA device) once CUDA has been used, else ``None``. The batch runner reads
    them from each lesson's kernel."""
    used_cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {"peak_rss": peak_rss(),
            "peak_gpu": torch.cuda.max_memory_allocated() if used_cuda else None}


def _cuda(device) -> torch.device | None:
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        return device
    return None


def memory_use(device: torch.device | str | None = None) -> dict[str, int | None]:
    """Memory figures in bytes: ``peak_rss`` always; with a CUDA ``device`` also
    ``peak_gpu`` (most memory tensors ever took), ``allocated_gpu`` (tensors now),
    ``reserved_gpu`` (what PyTorch holds, cache included), ``free_gpu`` and ``total_gpu``
    (the whole card, other users included)."""
    use: dict[str, int | None] = {"peak_rss": peak_rss()}
    cuda = _cuda(device)
    if cuda is not None:
        free, total = torch.cuda.mem_get_info(cuda)
        use |= {"peak_gpu": torch.cuda.max_memory_allocated(cuda),
                "allocated_gpu": torch.cuda.memory_allocated(cuda),
                "reserved_gpu": torch.cuda.memory_reserved(cuda),
                "free_gpu": free, "total_gpu": total}
    return use


def _mib(n: int | None) -> str:
    return "unknown" if n is None else f"{n / MIB:,.0f} MiB"


def print_memory_use(device: torch.device | str | None = None) -> dict[str, int | None]:
    """Print this lesson's peak memory so far (GPU on CUDA, else CPU RSS); return the figures."""
    use = memory_use(device)
    if "peak_gpu" in use:
        print(f"GPU memory: peak {_mib(use['peak_gpu'])} so far, {_mib(use['reserved_gpu'])} "
              f"held by this kernel; {_mib(use['free_gpu'])} of {_mib(use['total_gpu'])} "
              f"free on the card")
    print(f"CPU memory: peak {_mib(use['peak_rss'])} (resident) so far")
    return use


def release_memory(device: torch.device | str | None = None) -> dict[str, int | None]:
    """Free what the garbage collector can and hand PyTorch's cached GPU memory back to the
    card, then print what this kernel still holds. Tensors still referenced by variables
    stay; ``del`` them first (or restart the kernel) to free those too.

    Returns:
        The figures of ``memory_use`` after the release.
    """
    gc.collect()
    cuda = _cuda(device)
    if cuda is not None:
        torch.cuda.empty_cache()
    use = memory_use(device)
    if cuda is not None:
        print(f"GPU memory released: this kernel still holds {_mib(use['reserved_gpu'])} "
              f"({_mib(use['allocated_gpu'])} in live tensors); peak was {_mib(use['peak_gpu'])}")
    else:
        print(f"no GPU memory to release (device {torch.device(device or 'cpu').type}); "
              f"CPU peak {_mib(use['peak_rss'])}")
    return use
