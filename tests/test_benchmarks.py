"""The benchmarks train with the lessons' own settings: keep their copies in step; the
grading benchmark's table and arguments."""

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


grading_bench = _script("grading")


def test_grading_table_rates_and_ratios():
    lines = grading_bench.table([("jobs 1", 30, 120.0, 180.0), ("jobs 2", 30, 60.0, 90.0),
                                 ("slurm 2", 30, 80.0, 150.0)])
    assert lines[0].split()[:2] == ["mode", "submissions"]
    # 30 notebooks in 120 s (grading) and 180 s (total): 15.0 and 10.0 a minute
    assert lines[1].split() == ["jobs", "1", "30", "120.0", "180.0", "15.0", "10.0", "1.00x",
                                "1.00x"]
    assert lines[2].split()[-4:] == ["30.0", "20.0", "2.00x", "2.00x"]
    assert lines[3].split()[-4:] == ["22.5", "12.0", "1.50x", "1.20x"]


@pytest.mark.parametrize("argv, shown", [
    (["--class-size", "0"], "--class-size: must be at least 1, got 0"),
    (["--tasks", "0"], "--tasks: must be at least 1, got 0"),
    (["--sections", "speed"], "invalid choice: 'speed'"),
])
def test_grading_bad_arguments_are_refused_by_name(argv, shown, capsys):
    with pytest.raises(SystemExit) as stop:
        grading_bench.main(argv)
    assert stop.value.code == 2
    assert shown in capsys.readouterr().err
