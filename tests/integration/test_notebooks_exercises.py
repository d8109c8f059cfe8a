"""Each exercise notebook runs, in quick mode, until its first stub raises NotImplementedError:
everything a student meets before the first task works as given.

A stub inside a function body raises only when the function is called (usually by the check
cell right after it), so cells from the first stub cell on may run until that happens; the
first error must then be the stub's NotImplementedError. A notebook without stubs runs fully.
"""

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils.instructor.paths import NOTEBOOKS

EXERCISES = sorted((NOTEBOOKS / "exercises").glob("[0-9][0-9]-*.ipynb"))
STUB = "raise NotImplementedError"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", EXERCISES, ids=[p.stem for p in EXERCISES])
def test_exercise_runs_to_its_first_stub(path, monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    stub_at = None
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if stub_at is None and STUB in cell.source:
                stub_at = cell.id
            if stub_at is None:
                client.execute_cell(cell, index)  # raises CellExecutionError on any error
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                assert error.ename == "NotImplementedError", (
                    f"{path.name}, cell {cell.id} should stop at the stub of cell {stub_at}, "
                    f"not with {error.ename}: {error.evalue}")
                return
    assert stub_at is None, f"{path.name}: the stub of cell {stub_at} never raised"
