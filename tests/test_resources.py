"""Memory figures: the CPU path for real, the CUDA path with torch.cuda stubbed out."""

import sys

import numpy as np
import pytest
import torch

from course_utils import resources

MIB = 2**20


def test_peak_rss_is_this_process_high_water_mark():
    before = resources.peak_rss()
    assert before > 50 * MIB  # Python with torch imported
    # A block bigger than the whole peak so far (touched, so resident) must raise the peak.
    block = np.ones(before + 64 * MIB, dtype=np.uint8)
    after = resources.peak_rss()
    assert after >= block.size > before


def test_peak_rss_without_resource_module(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "resource", None)
    assert resources.peak_rss() is None
    resources.print_memory_use("cpu")
    assert capsys.readouterr().out == "CPU memory: peak unknown (resident) so far\n"


def test_cpu_device_reports_rss_only(capsys):
    use = resources.print_memory_use(torch.device("cpu"))
    assert set(use) == {"peak_rss"}
    out = capsys.readouterr().out
    assert out.startswith("CPU memory: peak ") and "GPU" not in out


def test_release_on_cpu_says_there_is_nothing_to_release(capsys):
    use = resources.release_memory("cpu")
    assert set(use) == {"peak_rss"}
    assert capsys.readouterr().out.startswith("no GPU memory to release (device cpu); CPU peak ")


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch.cuda as a card with 8 GiB, 1 GiB in tensors, 3 GiB peak, 2 GiB cached."""
    state = {"reserved": 2048 * MIB, "emptied": 0}

    def empty_cache():
        state["emptied"] += 1
        state["reserved"] = 1024 * MIB

    cuda = torch.cuda
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "mem_get_info", lambda device=None: (5 * 1024 * MIB, 8 * 1024 * MIB))
    monkeypatch.setattr(cuda, "max_memory_allocated", lambda device=None: 3072 * MIB)
    monkeypatch.setattr(cuda, "memory_allocated", lambda device=None: 1024 * MIB)
    monkeypatch.setattr(cuda, "memory_reserved", lambda device=None: state["reserved"])
    monkeypatch.setattr(cuda, "empty_cache", empty_cache)
    return state


def test_cuda_figures(fake_cuda, capsys):
    use = resources.print_memory_use("cuda")
    assert {k: v // MIB for k, v in use.items() if k != "peak_rss"} == {
        "peak_gpu": 3072, "allocated_gpu": 1024, "reserved_gpu": 2048,
        "free_gpu": 5120, "total_gpu": 8192}
    assert capsys.readouterr().out.splitlines()[0] == (
        "GPU memory: peak 3,072 MiB so far, 2,048 MiB held by this kernel; "
        "5,120 MiB of 8,192 MiB free on the card")


def test_cuda_release_empties_the_cache_and_says_what_is_held(fake_cuda, capsys):
    use = resources.release_memory(torch.device("cuda", 0))
    assert fake_cuda["emptied"] == 1
    assert use["reserved_gpu"] == 1024 * MIB
    assert capsys.readouterr().out == (
        "GPU memory released: this kernel still holds 1,024 MiB (1,024 MiB in live tensors); "
        "peak was 3,072 MiB\n")


def test_cuda_device_without_a_gpu_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert set(resources.memory_use("cuda")) == {"peak_rss"}


def test_peak_memory_without_cuda_use(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    peak = resources.peak_memory()
    assert peak["peak_gpu"] is None and peak["peak_rss"] > 50 * MIB


def test_peak_memory_after_cuda_use(fake_cuda, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert resources.peak_memory()["peak_gpu"] == 3072 * MIB
