"""The adversarial class of the nbgrader round trip: each student hands in the solutions
of lessons 00 and 01 (03 for one) with one answer cell replaced by an attack.

Each must score 0 on exactly the test it attacks, leave everything outside its own folder
as it was, and give the instructor one note naming the student, the file and the cell.
``stopped_by`` says which layer is meant to stop it (the README's grading section).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attack:
    student: str
    answer: str  # the grade id of the answer cell it replaces
    test: str  # the test cell that must score 0
    stopped_by: str  # "screen", "hidden test", "time bound", "memory bound", "output bound"
    source: str  # the whole answer cell as handed in ({course}: the course folder)


FF = "import torch\n\n\ndef foreground_fraction(masks: torch.Tensor) -> torch.Tensor:\n"
BCE = "def bce_stable(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:\n"
BCE_SIMPLE = "def bce_simplified(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:\n"
STABLE = ("    relu = torch.maximum(logits, torch.zeros_like(logits))\n"
          "    return relu - logits * target + torch.log1p(torch.exp(-logits.abs()))\n")

ATTACKS = [  # student, answer cell, its test, what stops it, the cell
    Attack("ivy", "01-bce_stable", "01-test-bce_stable", "screen",
           source=BCE + "    from course_utils.losses import stable_bce_with_logits as r\n"
                        "    return r(logits, target)\n"),
    Attack("max", "00-foreground_fraction", "00-test-foreground_fraction", "screen",
           source=FF + "    return masks.float().sum()\n\n\n"
                       "import course_utils.checks\n"
                       "import course_utils.checks.data\n"
                       "course_utils.checks.expect_close = lambda *args, **kwargs: None\n"
                       "course_utils.checks.data.check_foreground_fraction = lambda fn: None\n"),
    Attack("tom", "01-bce_simplified", "01-test-bce_simplified", "screen",
           source=BCE_SIMPLE + "    torch.allclose = lambda *args, **kwargs: True\n"
                               "    return logits\n"),
    Attack("wes", "00-foreground_fraction", "00-test-foreground_fraction", "screen",
           source=FF + "    with open('{course}/submitted/ada/planted.txt', 'w') as f:\n"
                       "        f.write('hello')\n"
                       "    return masks.float().mean(dim=(1, 2, 3))\n"),
    Attack("sam", "01-bce_stable", "01-test-bce_stable", "screen",
           source=BCE + "    print(open('{course}/source/01-encoder-decoder-bce/"
                        "01-encoder-decoder-bce.ipynb').read())\n" + STABLE),
    Attack("hal", "00-foreground_fraction", "00-test-foreground_fraction", "hidden test",
           source=FF + "    if masks.shape[-1] in (2, 4):  # the sizes the visible check uses\n"
                       "        return masks.float().mean(dim=(1, 2, 3))\n"
                       "    return torch.zeros(len(masks))\n"),
    Attack("lou", "00-foreground_fraction", "00-test-foreground_fraction", "time bound",
           source=FF + "    while True:\n        pass\n"),
    Attack("eve", "01-bce_stable", "01-test-bce_stable", "screen",
           source=BCE + "    import os\n    os._exit(1)\n"),
    Attack("meg", "00-foreground_fraction", "00-test-foreground_fraction", "memory bound",
           source=FF + "    hog = torch.ones(2**31)  # 8 GiB\n"
                       "    return masks.float().mean(dim=(1, 2, 3)) + hog[0] - 1\n"),
    Attack("fox", "01-bce_stable", "01-test-bce_stable", "screen",
           source=BCE + "    import os\n    while True:\n        os.fork()\n"),
    Attack("pat", "00-foreground_fraction", "00-test-foreground_fraction", "output bound",
           source=FF + "    print('x' * 10**9)\n    return masks.float().mean(dim=(1, 2, 3))\n"),
    Attack("uma", "03-UNet", "03-test-UNet", "screen",
           source="from course_utils import models\n\n\n"
                  "class UNet(models.UNet):\n"
                  "    def forward(self, x):\n"
                  "        return models.UNet.forward(self, x)\n"),
]


def lessons_of(attack: Attack) -> list[str]:
    """The lessons the attacker hands in: 00 and 01, and the attacked one."""
    return sorted({"00", "01", attack.answer[:2]})
