"""The two wings: no module a lesson can import reaches the instructor's tools.

Everything of ``course_utils`` outside ``instructor/`` is the student wing. The one exception
is ``__main__``, the door ``python -m course_utils`` looks for, which only hands over to
``instructor.cli``. Three rules, each a walk over the package's source with ``ast``:

- no module outside ``instructor/`` imports anything inside it;
- no top-level module or subpackage has the name of a tool (``TOOLING``);
- every top-level module is used by a lesson, by the cells the build injects into lessons,
  or by another module of the student wing, so nothing that only the tools use sits there.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"
LESSONS = ROOT / "notebooks" / "src"
TOOLS = "course_utils.instructor"
DOOR = "__main__.py"
# The instructor's and CI's tools, by module name; none of them may be top-level.
TOOLING = {"authoring", "batch", "book", "cli", "cluster", "grading", "hublink", "injected",
           "local_slurm", "paths", "runner"}


def student_modules() -> list[Path]:
    return sorted(
        path for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in ("instructor", DOOR)
    )


def module_name(path: Path) -> str:
    """The dotted name relative imports resolve against (``pkg.__init__`` for a package)."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imported_names(source: str, module: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``source`` names, dotted in full
    (``from course_utils import instructor`` names ``course_utils.instructor``); relative
    imports are resolved against ``module``."""
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


def named_strings(source: str) -> set[str]:
    """String constants that are a dotted name in the tools: ``importlib.import_module(...)``
    or ``__import__(...)`` of one is an import the first walk cannot see (prose that mentions
    the tools, in a docstring, is not)."""
    return {node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and _reaches_tools(node.value)}


def _reaches_tools(name: str) -> bool:
    return name == TOOLS or name.startswith(TOOLS + ".")


def top_level() -> list[str]:
    """The names ``course_utils.X`` of the package's top-level modules and subpackages."""
    names = {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")}
    names |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    return sorted(names - {"instructor"})


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("import course_utils.instructor.runner", "course_utils.x", True),
    ("import course_utils.instructor", "course_utils.x", True),
    ("from course_utils import instructor", "course_utils.x", True),
    ("from course_utils.instructor import grading", "course_utils.x", True),
    ("from course_utils.instructor.grading.sandbox import Limits", "course_utils.x", True),
    ("from .instructor import book", "course_utils.x", True),
    ("from . import instructor", "course_utils.__init__", True),
    ("from ..instructor.grading import cli", "course_utils.checks.x", True),
    ("if True:\n    import course_utils.instructor.paths", "course_utils.x", True),
    ("def f():\n    from course_utils.instructor import cli", "course_utils.x", True),
    ("from course_utils import metrics, topology", "course_utils.x", False),
    ("import course_utils.instructors_note", "course_utils.x", False),
    ("from course_utils import grading", "course_utils.x", False),  # no such module any more
    ("from . import losses", "course_utils.checks.x", False),
    ("from .. import metrics", "course_utils.checks.x", False),
])
def test_imported_names_table(source, module, expected):
    assert any(map(_reaches_tools, imported_names(source, module))) is expected


@pytest.mark.parametrize(("source", "expected"), [
    ("importlib.import_module('course_utils.instructor.runner')", {"course_utils.instructor.runner"}),
    ("__import__('course_utils.instructor')", {"course_utils.instructor"}),
    ("\"\"\"Run by course_utils.instructor.runner.\"\"\"", set()),
    ("x = 'course_utils.metrics'", set()),
    ("x = 3", set()),
])
def test_named_strings_table(source, expected):
    assert named_strings(source) == expected


def test_a_syntax_error_is_not_a_pass():
    with pytest.raises(SyntaxError):
        imported_names("from . import (", "course_utils.x")


def test_the_walk_sees_the_student_wing():
    names = {path.relative_to(PACKAGE).as_posix() for path in student_modules()}
    assert {"config.py", "metrics.py", "checks/models.py", "data/sources.py",
            "__init__.py"} <= names
    assert not any(n.startswith("instructor/") for n in names)
    assert DOOR not in names


def test_the_door_only_hands_over_to_the_cli():
    names = imported_names((PACKAGE / DOOR).read_text(), "course_utils.__main__")
    assert sorted(filter(_reaches_tools, names)) == ["course_utils.instructor.cli",
                                                      "course_utils.instructor.cli.main"]


@pytest.mark.parametrize("path", student_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_student_wing_never_imports_the_tools(path):
    source = path.read_text()
    reached = sorted(filter(_reaches_tools, imported_names(source, module_name(path))))
    assert reached == [], f"{path.name} imports the instructor's tools: {reached}"
    assert named_strings(source) == set(), f"{path.name} names the instructor's tools"


def test_no_top_level_module_is_a_tool():
    names = top_level()
    assert {"config", "metrics", "checks", "data"} <= set(names)  # the listing works
    assert sorted(set(names) & TOOLING) == []


def test_every_tool_lives_in_the_instructor_wing():
    wing = PACKAGE / "instructor"
    present = {p.stem for p in wing.glob("*.py")} | {p.name for p in wing.iterdir() if p.is_dir()}
    assert TOOLING <= present


def _student_users() -> set[str]:
    """Every ``course_utils.X`` a lesson, an injected cell or a student-wing module imports."""
    from course_utils.instructor import injected

    sources = [(p.read_text(), "lesson") for p in sorted(LESSONS.glob("[0-9][0-9]-*.py"))]
    sources += [(getattr(injected, n), "course_utils.lesson")
                for n in ("KERNEL_CHECK", "MEMORY_START", "MEMORY_RELEASE")]
    sources += [(p.read_text(), module_name(p)) for p in student_modules()]
    used = set()
    for source, module in sources:
        for name in imported_names(source, module):
            parts = name.split(".")
            if parts[0] == "course_utils" and len(parts) > 1:
                used.add(parts[1])
    return used


def test_every_top_level_module_serves_the_students():
    """A module only the tools (or the tests) import belongs in ``instructor/``."""
    unused = sorted(set(top_level()) - _student_users())
    assert unused == [], f"only the tools or tests use {unused}: move them into instructor/"


@pytest.mark.parametrize("name", ["KERNEL_CHECK", "MEMORY_START", "MEMORY_RELEASE"])
def test_cells_injected_into_lessons_import_only_the_student_wing(name):
    """The build writes these strings into every lesson: they run in the student's kernel."""
    from course_utils.instructor import injected

    names = imported_names(getattr(injected, name), "course_utils.lesson")
    assert not any(map(_reaches_tools, names))


MAX_LINES = 400  # a module longer than this does more than one job: split it by topic


def test_module_lengths_are_measured():
    lengths = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines())
               for p in PACKAGE.rglob("*.py")}
    assert lengths["instructor/paths.py"] > 5 and len(lengths) > 50


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_every_module_is_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines (at most {MAX_LINES}): split it"
