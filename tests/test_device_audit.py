"""course_utils.device_audit: a CPU playing an accelerator catches what fails on a GPU.

The audit is a mode entered for the rest of a process (as in a lesson's kernel), so the
cases that install it run in a fresh interpreter each.
"""

import subprocess
import sys
import textwrap

import pytest
import torch

from course_utils import device_audit

SETUP = """\
import torch
from torch import nn
from course_utils import config, training
config_device = config.get_device()
model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.Conv2d(4, 1, 1))
x = torch.rand(2, 3, 8, 8)
y = (torch.rand(2, 1, 8, 8) > 0.5).float()
"""


def run_audited(code: str) -> subprocess.CompletedProcess:
    script = SETUP + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={"COURSE_DEVICE_AUDIT": "1", "PATH": "", "COURSE_QUICK": "1"},
                          timeout=120)


@pytest.mark.parametrize(("code", "error"), [
    ("model.to(config_device)(x)", "conv2d got tensors on DEVICE and on the CPU"),
    ("model(x.to(config_device))", "conv2d got tensors on DEVICE and on the CPU"),
    ("nn.functional.binary_cross_entropy_with_logits(model.to(config_device)("
     "x.to(config_device)), y)", "binary_cross_entropy_with_logits got tensors on DEVICE"),
    ("torch.cat([x.to(config_device), x])", "cat got tensors on DEVICE and on the CPU"),
    ("model.to(config_device)(x.to(config_device)).detach().numpy()", "handed to NumPy"),
    ("opt = torch.optim.Adam(model.parameters())\nmodel.to(config_device)\n"
     "training.train_one_epoch(model, nn.BCEWithLogitsLoss(), opt, [(x, y)], 'cpu')",
     "the model's parameters are on cpu:0 but device=cpu"),
], ids=["model moved, input not", "input moved, model not", "target not moved", "cat",
        "numpy", "train_one_epoch names both devices"])
def test_mixing_devices_fails_as_on_a_gpu(code, error):
    result = run_audited(code)
    assert result.returncode != 0 and error in result.stderr, result.stderr[-2000:]


def test_code_that_keeps_to_one_device_runs_and_gives_cpu_numbers():
    result = run_audited("""\
        assert str(config_device) == "cpu:0"
        plain = model(x).sum().item()
        model.to(config_device)
        xd, yd = x.to(config_device), y.to(config_device)
        assert xd.device == config_device and x.device == torch.device("cpu")
        assert torch.zeros(3, device=xd.device).device == config_device  # follows its source
        out = model(xd)
        assert abs(out.sum().item() - plain) < 1e-5  # same numbers as a CPU run
        assert out.detach().cpu().numpy().shape == (2, 1, 8, 8)  # .cpu() first is fine
        assert xd[torch.tensor([1])].shape == (1, 3, 8, 8)  # a CPU index into DEVICE is fine
        assert (xd * torch.tensor(2.0)).device == config_device  # 0-dim CPU tensors mix
        loader = [(x, y), (x, y)]  # batches on the CPU: the loop moves them
        opt = torch.optim.Adam(model.parameters())
        loss = training.train_one_epoch(model, nn.BCEWithLogitsLoss(), opt, loader,
                                        config_device)
        assert model[0].weight.grad.device == config_device
        import copy
        twin = copy.deepcopy(model)  # a copy lives where the original does
        assert twin[0].weight.device == config_device
        assert twin(xd).shape == (2, 1, 8, 8)
        probs = training.predict(model, x)  # runs where the model is; returns CPU tensors
        assert probs.device == torch.device("cpu") and probs.shape == (2, 1, 8, 8)
        print("fine", round(loss, 3))
        """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("fine")


def test_the_environment_report_says_it_is_an_audit():
    result = run_audited("print(config.environment_report(config_device)['device'])")
    assert result.stdout.strip() == "cpu:0 (device audit: a CPU playing an accelerator)"


def test_the_audit_device_is_a_cpu_apart_from_the_cpu():
    assert device_audit.AUDIT_DEVICE.type == "cpu"
    assert device_audit.AUDIT_DEVICE != torch.device("cpu")
