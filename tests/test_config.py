import importlib.util
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

from course_utils import config


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("on", True),
     ("0", False), ("", False), ("false", False), ("no", False), ("off", False)],
)
def test_is_quick_values(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_QUICK", value)
    assert config.is_quick() is expected


def test_is_quick_unset_is_full_mode(monkeypatch):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    assert config.is_quick() is False


@pytest.mark.parametrize("value", ["maybe", "2", "yess"])
def test_is_quick_bad_value_names_it(monkeypatch, value):
    monkeypatch.setenv("COURSE_QUICK", value)
    with pytest.raises(ValueError, match=f"COURSE_QUICK='{value}'"):
        config.is_quick()


def _draws():
    # the legacy global NumPy state is what seed_everything seeds
    return random.random(), np.random.rand(), torch.rand(1).item()  # noqa: NPY002


def test_seed_everything_reproduces_python_numpy_torch():
    config.seed_everything(3)
    first = _draws()
    config.seed_everything(3)
    assert _draws() == first
    config.seed_everything(4)
    assert _draws() != first


def test_seed_everything_returns_a_seeded_generator():
    a = torch.rand(3, generator=config.seed_everything(7))
    b = torch.rand(3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None])
def test_seed_everything_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        config.seed_everything(seed)


def test_get_device_cpu():
    assert config.get_device("cpu") == torch.device("cpu")


def test_get_device_unavailable_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device 'cuda' is not available"):
        config.get_device("cuda")


def test_get_device_unknown_type():
    with pytest.raises(ValueError, match="device 'meta' is not available"):
        config.get_device("meta")


def test_get_device_reads_course_device(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="'cuda'"):
        config.get_device()


def test_get_device_argument_beats_env(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    assert config.get_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_get_device_default_order(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(config, "_mps_available", lambda: mps)
    assert config.get_device() == torch.device(expected)


def test_environment_report(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    report = config.environment_report(torch.device("cpu"))
    assert list(report) == ["python", "platform", "torch", "torchvision", "device",
                            "cpu threads", "quick mode"]
    assert report["device"] == "cpu"
    assert report["torch"] == torch.__version__
    assert report["torchvision"] == torchvision.__version__
    assert report["quick mode"] == "on"
    assert all(isinstance(v, str) for v in report.values())
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert config.environment_report(torch.device("cpu"))["quick mode"] == "off"


def test_environment_report_leaves_torchvision_unimported():
    # importing torchvision imports torch._dynamo: 1.3 s of every lesson the runner asks
    code = ("import sys, torch; from course_utils import config; "
            "report = config.environment_report(torch.device('cpu')); "
            "print(report['torchvision'], 'torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [torchvision.__version__, "False"]


def test_environment_report_without_torchvision(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "torchvision" else find_spec(name, *args))
    assert config.environment_report(torch.device("cpu"))["torchvision"] == "not installed"


def test_print_table_aligns(capsys):
    config.print_table({"a": 1, "long key": "x"})
    assert capsys.readouterr().out == "a         1\nlong key  x\n"


@pytest.mark.parametrize(("before", "values", "inside"), [
    ({}, {"COURSE_QUICK": "1"}, {"COURSE_QUICK": "1"}),
    ({"COURSE_QUICK": "0"}, {"COURSE_QUICK": "1"}, {"COURSE_QUICK": "1"}),
    ({"COURSE_QUICK": "0", "COURSE_RESULTS_FILE": "a"}, {"COURSE_RESULTS_FILE": "b"},
     {"COURSE_QUICK": "0", "COURSE_RESULTS_FILE": "b"}),
])
def test_env_overrides_sets_then_restores(monkeypatch, before, values, inside):
    for name in ("COURSE_QUICK", "COURSE_RESULTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in before.items():
        monkeypatch.setenv(name, value)
    with config.env_overrides(values):
        assert {n: os.environ[n] for n in inside} == inside
    assert {n: os.environ.get(n) for n in ("COURSE_QUICK", "COURSE_RESULTS_FILE")} == {
        n: before.get(n) for n in ("COURSE_QUICK", "COURSE_RESULTS_FILE")}


def test_env_overrides_restores_when_the_block_raises(monkeypatch):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    with pytest.raises(RuntimeError), config.env_overrides({"COURSE_QUICK": "1"}):
        raise RuntimeError("stop")
    assert "COURSE_QUICK" not in os.environ


def test_env_overrides_rejects_a_value_that_is_not_text(monkeypatch):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    with pytest.raises(ValueError, match="COURSE_QUICK must be set to a str, got bool True"):
        with config.env_overrides({"COURSE_QUICK": True}):
            pass
    assert "COURSE_QUICK" not in os.environ
