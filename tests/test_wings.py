"""The two wings: no module a lesson can import reaches the instructor's tools.

The student wing is ``course_utils`` minus ``instructor/`` and ``grading/``; the command
line's door (``__main__``) and the transitional ``authoring`` alias belong to the tools.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"
TOOLS = ("course_utils.instructor", "course_utils.grading")
TOOL_FILES = {"__main__.py", "authoring.py"}  # the door of `python -m`, an alias for grading/


def student_modules() -> list[Path]:
    return sorted(
        path for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in ("instructor", "grading", *TOOL_FILES)
    )


def imported_names(source: str, module: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``source`` names, dotted in full
    (``from course_utils import grading`` names ``course_utils.grading``); relative imports
    are resolved against ``module``."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _reaches_tools(name: str) -> bool:
    return any(name == tool or name.startswith(tool + ".") for tool in TOOLS)


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("import course_utils.instructor.runner", "course_utils.x", True),
    ("from course_utils import grading", "course_utils.x", True),
    ("from course_utils.instructor.paths import NOTEBOOKS", "course_utils.x", True),
    ("from .instructor import book", "course_utils.x", True),
    ("from ..grading import cli", "course_utils.checks.x", True),
    ("from course_utils import metrics, topology", "course_utils.x", False),
    ("import course_utils.instructors_note", "course_utils.x", False),
    ("from . import losses", "course_utils.checks.x", False),
])
def test_imported_names_table(source, module, expected):
    assert any(map(_reaches_tools, imported_names(source, module))) is expected


def test_the_walk_sees_the_student_wing():
    names = {path.relative_to(PACKAGE).as_posix() for path in student_modules()}
    assert {"config.py", "metrics.py", "checks/models.py", "data/sources.py"} <= names
    assert not any(n.startswith(("instructor/", "grading/")) for n in names)


@pytest.mark.parametrize("path", student_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_student_wing_never_imports_the_tools(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    if parts[-1] == "__init__":
        module += ".__init__"  # a package's relative imports resolve against the package
    reached = sorted(filter(_reaches_tools, imported_names(path.read_text(), module)))
    assert reached == [], f"{path.name} imports the instructor's tools: {reached}"


@pytest.mark.parametrize("name", ["KERNEL_CHECK", "MEMORY_START", "MEMORY_RELEASE"])
def test_cells_injected_into_lessons_import_only_the_student_wing(name):
    """The build writes these strings into every lesson: they run in the student's kernel."""
    from course_utils.instructor import injected

    names = imported_names(getattr(injected, name), "course_utils.lesson")
    assert not any(map(_reaches_tools, names))
