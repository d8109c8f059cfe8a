"""The benchmarks train with the lessons' own settings: keep their copies in step."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    """A benchmark script as a module (benchmarks/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


twin_difficulty = _script("twin_difficulty")


def _parameters(lesson: str) -> dict[str, str]:
    source = next((ROOT / "notebooks" / "src").glob(f"{lesson}-*.py")).read_text()
    return dict(re.findall(r"^([A-Z_]+) = (.+?)(?:\s+#.*)?$", source, flags=re.MULTILINE))


def _choice(expression: str, mode: str):
    quick, full = re.fullmatch(r"(.+) if QUICK else (.+)", expression).groups()
    return eval(quick if mode == "quick" else full)  # literals from the lesson's own source


@pytest.mark.parametrize("mode", ["quick", "full"])
@pytest.mark.parametrize("lesson, table, constants", [
    ("06", "FACADE", {"BATCH_SIZE": "FACADE_BATCH", "LR": "FACADE_LR"}),
    ("03", "CELLS", {"DEPTH": "CELLS_DEPTH", "BATCH_SIZE": "CELLS_BATCH"}),
])
def test_settings_are_the_lessons_own(mode, lesson, table, constants):
    params = _parameters(lesson)
    expected = {key.lower(): _choice(params[key], mode) for key in ("SIZE", "EPOCHS", "WIDTH")}
    assert getattr(twin_difficulty, table)[mode] == expected
    for param, name in constants.items():
        assert getattr(twin_difficulty, name) == eval(params[param])


@pytest.mark.parametrize("argv, shown", [
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--mode", "slow"], "invalid choice: 'slow'"),
    (["--twin", "roads"], "invalid choice: 'roads'"),
])
def test_bad_arguments_are_refused_by_name(argv, shown, capsys):
    with pytest.raises(SystemExit) as stop:
        twin_difficulty.main(argv)
    assert stop.value.code == 2
    assert shown in capsys.readouterr().err
