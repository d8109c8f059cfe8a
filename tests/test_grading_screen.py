"""The screen of answer cells: every solution passes, each kind of cheat is named."""

from __future__ import annotations

import nbformat
import pytest

from course_utils.instructor import authoring
from course_utils.instructor.grading.screen import FORBIDDEN, screen

SOLUTIONS = sorted((authoring.NOTEBOOKS / "solutions").glob("[0-9][0-9]-*.ipynb"))


def _answers():
    for path in SOLUTIONS:
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("solution"):
                yield meta["grade_id"], cell.source


def test_every_solution_passes_and_every_task_has_an_entry():
    answers = dict(_answers())
    assert {g: screen(s, g) for g, s in answers.items()} == {g: [] for g in answers}
    assert set(FORBIDDEN) == set(answers)


CHEATS = [  # (task, answer, the reason's words)
    ("01-bce_stable", "def f(x, y):\n    return F.binary_cross_entropy_with_logits(x, y)\n",
     "uses .binary_cross_entropy_with_logits, the work this task asks for"),
    ("01-bce_stable", "from course_utils.losses import stable_bce_with_logits as r\n",
     "imports 'stable_bce_with_logits', the work this task asks for"),
    ("02-FocalLoss", "from torchvision.ops import sigmoid_focal_loss\n",
     "imports 'sigmoid_focal_loss'"),
    ("03-UNet", "class UNet(models.UNet):\n    pass\n", "uses .UNet, the work this task"),
    ("06-one_hot", "from course_utils.checks.multiclass import _one_hot\n",
     "imports 'course_utils.checks.multiclass', which answers may not use"),
    ("06-class_weights", "def w(c):\n    return multiclass._weights(c, 0.5)\n",
     "uses the private attribute ._weights"),
    ("04-conv_output_size", "def s(n):\n    return nn.Conv2d(1, 1, 3)(x).shape[-1]\n",
     "uses .Conv2d"),
    ("00-foreground_fraction", "import os\n", "imports 'os' (an answer may import only"),
    ("00-foreground_fraction", "torch.allclose = lambda *a: True\n",
     "changes .allclose of an object that is not its own"),
    ("00-foreground_fraction", "def f(m):\n    return getattr(F, 'x')(m)\n", "uses 'getattr'"),
    ("00-foreground_fraction", "def f(m):\n    return open('/etc/passwd').read()\n",
     "uses 'open'"),
    ("00-foreground_fraction", "def f(m):\n    global g\n", "uses 'global'"),
    ("00-foreground_fraction", "def f(m):\n    return m.__class__.__base__\n",
     "private attribute .__class__"),
    ("00-foreground_fraction", "from torch import *\n", "imports * from 'torch'"),
    ("00-foreground_fraction", "from torch.ops import aten\n", "imports 'torch.ops'"),
    ("00-foreground_fraction", "def f(e):\n    return e.__traceback__.tb_frame.f_back\n",
     "uses .f_back"),
    ("01-bce_stable", "def f(x):\n    return torch.nn.functional.__dict__['softplus'](x)\n",
     "private attribute .__dict__"),
    ("07-binary_metrics", "x = 'binary_metrics'\n", "names 'binary_metrics' in a string"),
]


@pytest.mark.parametrize(("task", "answer", "words"), CHEATS)
def test_a_cheat_is_refused_with_its_reason(task, answer, words):
    reasons = screen(answer, task)
    assert any(words in r for r in reasons), reasons
    assert all(r.startswith("line ") for r in reasons)


ALLOWED = [  # what answers rightly do
    ("02-FocalLoss", "def f(x, y):\n    return F.binary_cross_entropy_with_logits(x, y)\n"),
    ("03-UNet", "class UNet(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                "        self.up = nn.Upsample(scale_factor=2)\n        self._n = 3\n"),
    ("07-binary_metrics", "def m(p, t):\n    return {'accuracy': 1.0, 'precision': 1.0}\n"),
    ("01-evaluate", "def evaluate(m, c, loader):\n    return metrics.dice_score(m, c)\n"),
    ("00-foreground_fraction", "def f(m):\n    print(m.shape)\n    return m.mean((1, 2, 3))\n"),
    ("00-foreground_fraction", "def f(m:\n"),  # a syntax error fails its test instead
]


@pytest.mark.parametrize(("task", "answer"), ALLOWED)
def test_honest_answers_pass(task, answer):
    assert screen(answer, task) == []
