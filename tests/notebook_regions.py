"""Helpers shared by the notebook tests: the lines of a cell inside and outside its
solution and hidden-test regions (as ``course_utils.instructor.authoring`` finds them)."""

from course_utils.instructor import authoring

TRIVIAL = {"", "pass", "return", "...", ")", "]", "}", "else:", "try:", "break", "continue"}


def region_lines(cell, where):
    lines = cell.source.split("\n")
    for begin, end in authoring._regions(lines, where):
        yield from lines[begin + 1 : end]


def outside_lines(cell):
    """Stripped lines of a cell that lie outside its solution regions."""
    lines = cell.source.split("\n")
    inside = set()
    for begin, end in authoring._regions(lines, "outside"):
        inside.update(range(begin, end + 1))
    return {line.strip() for i, line in enumerate(lines) if i not in inside}



def hidden_test_lines(nb, lesson):
    """Stripped lines inside the hidden-test regions of a notebook's cells, minus trivial
    ones and the lines that also appear outside every hidden region."""
    inside, outside = set(), set()
    for i, cell in enumerate(nb.cells):
        lines = cell.source.split("\n")
        hidden = set()
        for begin, end in authoring._regions(lines, f"{lesson}, cell {i}",
                                             (authoring.HIDDEN_BEGIN, authoring.HIDDEN_END)):
            hidden.update(range(begin + 1, end))
        inside |= {lines[k].strip() for k in hidden}
        outside |= {line.strip() for k, line in enumerate(lines) if k not in hidden}
    return {line for line in inside - outside if line.lstrip("# ").strip() not in TRIVIAL}
