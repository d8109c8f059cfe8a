"""After a grading round: one table per lesson and a figure of its score distributions,
read from the workers' ``verdicts/`` files (autograded points only)."""

from __future__ import annotations

import collections
import statistics
from pathlib import Path

import nbformat

from course_utils.instructor.grading import workers
from course_utils.instructor.grading.sandboxed import printable

__all__ = ["lesson_report", "plot_lesson"]


def _points(course: Path, lesson: str) -> dict[str, float]:
    nb = nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("grade")}


def _results(course: Path, lesson: str, students: list[str], quick: bool) -> dict[str, dict]:
    found = {}
    for student in students:
        verdicts = workers.cached(course, workers.Job(lesson, student), quick)
        if verdicts is not None:
            found[student] = verdicts
    return found


def lesson_report(course, lesson: str, students: list[str], quick: bool) -> str:
    """The lesson's table: mean score and its spread, each task's pass rate and most
    common failure, and the submissions a bound stopped."""
    course = Path(course)
    points, results = _points(course, lesson), _results(course, lesson, students, quick)
    total = sum(points.values())
    if not results:
        return f"{lesson}: no graded submission"
    scores = [sum(points[t] for t, v in r.items() if v.passed and t in points)
              for r in results.values()]
    q = statistics.quantiles(scores, n=4) if len(scores) > 1 else scores * 3
    lines = [f"{lesson}: {len(results)} submissions, mean {statistics.mean(scores):.1f} of "
             f"{total:g} autograded points (min {min(scores):g}, quartiles {q[0]:g} / {q[1]:g} "
             f"/ {q[2]:g}, max {max(scores):g})",
             f"  {'task':34s} {'points':>6s} {'passed':>7s}  most common failure"]
    for test, worth in points.items():
        got = [r[test] for r in results.values() if test in r]
        passed = sum(v.passed for v in got)
        failures = collections.Counter(printable(v.message.strip().splitlines()[0], 70)
                                       for v in got if not v.passed and v.message.strip())
        common = (f"{failures.most_common(1)[0][0]} ({failures.most_common(1)[0][1]}x)"
                  if failures else "")
        lines.append(f"  {test:34s} {worth:6g} {passed / max(len(got), 1):7.0%}  {common}")
    stopped = [f"{s} ({t}: {printable(v.note, 80)})" for s, r in results.items()
               for t, v in r.items() if v.note]
    lines.append("  stopped: " + ("; ".join(stopped) if stopped else "none"))
    return "\n".join(lines)


def plot_lesson(course, lesson: str, students: list[str], quick: bool) -> Path | None:
    """``reports/<lesson>.png`` in the course folder: the total scores' histogram and, per
    task, how many submissions scored its points and how many 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    course = Path(course)
    points, results = _points(course, lesson), _results(course, lesson, students, quick)
    if not results:
        return None
    scores = [sum(points[t] for t, v in r.items() if v.passed and t in points)
              for r in results.values()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.5 * len(points) + 2.5),
                                      gridspec_kw={"width_ratios": [1, 1.4]})
    left.hist(scores, bins=[x - 0.5 for x in range(int(sum(points.values())) + 2)],
              color="tab:blue", edgecolor="white")
    left.set(xlabel="autograded points", ylabel="submissions",
             title=f"{lesson}: {len(results)} submissions")
    names = list(points)
    full = [sum(r[t].passed for r in results.values() if t in r) for t in names]
    zero = [len(results) - f for f in full]
    labels = [f"{t} ({points[t]:g} pt)" for t in names]
    right.barh(labels, full, color="tab:green", label="full points")
    right.barh(labels, zero, left=full, color="tab:red", label="0 points")
    right.invert_yaxis()
    right.set_xlabel("submissions")
    right.set_title("per task", loc="left")
    # above the bars, never over them
    right.legend(loc="lower right", bbox_to_anchor=(1, 1), ncol=2, frameon=False,
                 borderaxespad=0.2)
    for axis in (left.yaxis, left.xaxis, right.xaxis):  # counts and points are whole
        axis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    path = course / "reports" / f"{lesson}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
