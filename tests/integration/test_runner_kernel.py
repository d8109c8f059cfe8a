"""course_utils.instructor.runner with a real kernel: slider cells never stall, a stalled cell fails in
bounded time and is named, and ``--set`` overrides a lesson's parameters."""

import nbformat
import pytest

from course_utils.instructor import runner

# The two sliders' cells as the lessons build them, on tiny maps. nbclient once stalled for
# minutes (and for good, on 2 cores) on such cells after the kernel had gone idle.
SLIDERS = """\
import torch
from course_utils import widgets
torch.manual_seed(0)
probs = torch.rand(4, 1, 16, 16)
targets = (torch.rand(4, 1, 16, 16) > 0.5).float()
"""


def _write(tmp_path, name, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    (tmp_path / "out").mkdir(exist_ok=True)
    return path


@pytest.mark.notebooks
def test_slider_cells_never_stall(tmp_path):
    path = _write(tmp_path, "98-sliders", SLIDERS,
                  "widgets.gamma_slider(probs[0], targets[0], torch.rand(3, 16, 16))",
                  "widgets.threshold_slider(probs, targets, torch.rand(4, 3, 16, 16))")
    for attempt in range(3):
        row = runner._run_one(path, True, tmp_path / "out", timeout=60)
        assert row["status"] == "ok", (attempt, row)
        assert row["seconds"] < 60, (attempt, row)
    executed = nbformat.read(tmp_path / "out" / path.name, as_version=4)
    views = [o for c in executed.cells[1:] for o in c.outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 2  # both sliders were displayed, and their state was stored
    assert executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]


@pytest.mark.notebooks
def test_a_hanging_cell_fails_in_time_and_is_named(tmp_path):
    path = _write(tmp_path, "97-hang", "x = 1", "import time\ntime.sleep(120)")
    row = runner._run_one(path, True, tmp_path / "out", timeout=3)
    assert row["status"] == "FAILED: cell 1 ('import time') timed out after 3 s"
    assert row["seconds"] < 60


@pytest.mark.notebooks
def test_set_overrides_the_parameters_cell(tmp_path):
    path = _write(tmp_path, "96-params", "SEED = 0\nSIZE = 64 if True else 128",
                  "from course_utils import reporting\nreporting.record_result('seed', SEED)")
    row = runner._run_one(path, True, tmp_path / "out", timeout=60, overrides={"SEED": "2"})
    assert row["status"] == "ok" and row["headline"] == "seed 2"


@pytest.mark.parametrize(("overrides", "match"), [
    ({"EPOCHS": "3"}, "does not set EPOCHS; it sets SEED, SIZE"),
    ({"SEED": "1 +"}, "is not a Python expression"),
])
def test_set_parameters_rejects_what_it_cannot_set(overrides, match):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("SEED = 0\nSIZE = 64")])
    with pytest.raises(ValueError, match=match):
        runner.set_parameters(nb, overrides, "01-x")


def test_set_parameters_needs_a_parameters_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 0")])
    with pytest.raises(ValueError, match="01-x has no parameters cell"):
        runner.set_parameters(nb, {"SEED": "1"}, "01-x")


def test_set_parameters_rewrites_only_the_named_lines():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("SEED = 0\nSIZE = 64\nconfig.seed_everything(SEED)")])
    runner.set_parameters(nb, {"SEED": "7"})
    assert nb.cells[0].source == ("SEED = 7  # set by the runner\nSIZE = 64\n"
                                  "config.seed_everything(SEED)")
