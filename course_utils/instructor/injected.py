"""The cells the build injects into every lesson: code kept in strings, in one place.

- ``KERNEL_CHECK``, before a lesson's first code cell: on a kernel that cannot import
  ``course_utils`` it says which kernel to pick and how to register it; on the right kernel
  it installs ``course_utils.hints``, which explains the usual device, dtype and shape errors;
- ``MEMORY_START`` after the parameters cell and ``MEMORY_RELEASE`` at the end
  (``course_utils.resources``): on a shared GPU a lesson says what is free when it starts and
  hands its memory back at the end.

The strings import only the student wing (``hints``, ``resources``): they run in the
student's kernel.
"""

from __future__ import annotations

import nbformat

__all__ = ["KERNEL_CHECK", "KERNELSPEC", "MEMORY_RELEASE", "MEMORY_START", "add_kernel_check",
           "add_memory_cells"]

KERNELSPEC = {"display_name": "Segmentation course", "language": "python", "name": "seg-course"}
KERNEL_CHECK = f"""\
# Is this the course kernel? If not, this cell says what to do.
try:
    import course_utils
except ImportError as error:
    raise ModuleNotFoundError(
        f"This kernel cannot import the course package ({{error}}).\\n"
        "Switch to the kernel '{KERNELSPEC['display_name']}': Kernel > Change Kernel...\\n"
        "Not in that list? Register it once from a terminal in the course folder, then "
        "reload this page and switch:\\n"
        "  bash scripts/course.sh setup\\n"
        "  .venv/bin/python -m ipykernel install --user --name {KERNELSPEC['name']} "
        "--display-name '{KERNELSPEC['display_name']}'\\n"
        "(README.md, 'On the course JupyterHub')"
    ) from None
# Plain-language help under the errors students meet most (device, dtype, shape, memory).
from course_utils import hints

hints.install();"""


def add_kernel_check(nb, lesson: str) -> None:
    """Put ``KERNEL_CHECK`` just before the first code cell (its id is not a number, so the
    lesson's own cell ids stay as they are)."""
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    check = nbformat.v4.new_code_cell(KERNEL_CHECK)
    check.id = f"{lesson[:2]}-kernel-check"
    nb.cells.insert(first, check)


# A shared GPU: each lesson says what is free when it starts and hands its memory back at
# the end. Both cells follow the parameters cell (the code cell that sets ``SEED``), which
# defines ``DEVICE``.
MEMORY_START = """\
from course_utils import resources

resources.print_memory_use(DEVICE);  # on a shared GPU: what is free before this lesson starts"""
MEMORY_RELEASE_NOTE = """\
## Before you close this notebook

On a shared GPU, hand back the memory this lesson still holds, so that other students'
kernels can use it. Restarting or shutting down the kernel frees everything."""
MEMORY_RELEASE = "resources.release_memory(DEVICE);"


def add_memory_cells(nb, lesson: str) -> None:
    """After the parameters cell put ``MEMORY_START``; at the end ``MEMORY_RELEASE`` with a
    note above it. Lessons without a parameters cell get neither."""
    params = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and any(
        line.startswith("SEED = ") for line in c.source.splitlines())), None)
    if params is None:
        return
    start = nbformat.v4.new_code_cell(MEMORY_START)
    start.id = f"{lesson[:2]}-memory-start"
    nb.cells.insert(params + 1, start)
    note = nbformat.v4.new_markdown_cell(MEMORY_RELEASE_NOTE)
    note.id = f"{lesson[:2]}-memory-note"
    release = nbformat.v4.new_code_cell(MEMORY_RELEASE)
    release.id = f"{lesson[:2]}-memory-release"
    nb.cells.extend([note, release])
