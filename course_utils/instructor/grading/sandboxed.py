"""Grade one submitted notebook in the sandbox: the program, the run, the verdicts.

The program is built from the instructor's **source** notebook, never from the
submission, except for the answer cells (nbgrader's solution cells), which are the
student's: a cell the student added or edited elsewhere is not part of it. Each answer is
first read by ``screen``; a refused answer is not run and its test scores 0 with the
reason. The rest runs in ``checker.py`` inside the sandbox (``sandbox.run_sandboxed``), a
fresh process per submission with the checks imported from the read-only package; only
JSON lines come back. When the process dies, hangs or floods its output during a test,
that test scores 0 with the reason and the run resumes after it in a new process, so an
attack costs exactly the task it attacks.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.instructor.grading.sandbox import DEFAULT_LIMITS, Limits, run_sandboxed
from course_utils.instructor.grading.screen import screen

__all__ = ["Verdict", "build_program", "grade_notebook", "printable"]

CHECKER = Path(__file__).resolve().with_name("checker.py")  # inside PACKAGE, bound with it
OUTPUT_CAP = 64 * 1024  # characters a test may print before it fails
BOUNDS = {"memory": "it ran into the memory bound (an allocation failed)",
          "output": f"it printed more than {OUTPUT_CAP} characters (the output bound)"}


@dataclass
class Verdict:
    """One test cell's result: what the student sees, and a note for the instructor."""

    passed: bool
    message: str
    note: str | None = None  # an attack or a bound that stopped the run: for the instructor
    answer: str | None = None  # the answer cell the note is about


@dataclass
class Program:
    steps: list[dict] = field(default_factory=list)
    refused: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # test -> answer
    answers: dict[str, list[str]] = field(default_factory=dict)  # test -> its answer cells


def printable(text: str, limit: int = 2000) -> str:
    """``text`` without control characters (terminal escapes), cut to ``limit``."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]", "", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def build_program(source_nb, submission_nb) -> Program:
    """The steps the checker runs, from the source notebook with the student's answers."""
    theirs = {_meta(c)["grade_id"]: c.get("source", "") for c in submission_nb.cells
              if c.get("cell_type") == "code" and _meta(c).get("grade_id")
              and _meta(c).get("solution")}
    program, pending, refused = Program(), [], []
    for cell in source_nb.cells:
        meta = _meta(cell)
        grade_id = meta.get("grade_id", cell.get("id", ""))
        if cell.cell_type != "code" or grade_id.endswith("-kernel-check"):
            continue
        if meta.get("solution"):
            answer = theirs.get(grade_id, "")
            pending.append(grade_id)
            if reasons := screen(answer, grade_id):
                refused.append((grade_id, reasons))
            else:
                program.steps.append(_answer_step(grade_id, answer, cell.source))
        elif meta.get("grade"):
            program.steps.append({"kind": "test", "id": grade_id, "source": cell.source})
            program.answers[grade_id] = pending
            if refused:
                program.refused[grade_id] = refused[0]
            pending, refused = [], []
        elif meta.get("locked"):
            program.steps.append({"kind": "run", "id": grade_id, "source": cell.source})
        else:
            program.steps.append({"kind": "defs", "id": grade_id, "source": cell.source})
    return program


def _answer_step(grade_id: str, answer: str, given: str) -> dict:
    """An answer cell's step: its definitions, plus the top-level statements that the
    instructor's cell has too (a constant given above the task, ``EIGHT = np.ones(...)``)."""
    try:
        tree, instructor = ast.parse(answer), ast.parse(given)
    except SyntaxError:  # the checker reports it as the cell's error
        return {"kind": "defs", "id": grade_id, "source": answer}
    known = {ast.dump(node) for node in instructor.body}
    kept = [node for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                 ast.AsyncFunctionDef, ast.ClassDef)) or ast.dump(node) in known]
    return {"kind": "defs-given", "id": grade_id, "source": answer,
            "given": [i for i, node in enumerate(tree.body) if node in kept]}


def _stopped_reason(outcome, limits: Limits) -> str:
    if outcome.stopped == "time":
        return f"it did not finish within {limits.step_seconds:g} s (the grader stopped it)"
    if outcome.stopped == "output":
        return f"it printed more than {limits.output_bytes} bytes (the grader stopped it)"
    code = outcome.returncode
    if code is not None and code < 0:
        return (f"the grading process was killed by signal {-code} while it ran (a memory, "
                f"CPU-time or process bound)")
    return f"the grading process ended (exit code {code}) while it ran"


def grade_notebook(source_nb, submission_nb, *, quick: bool, limits: Limits = DEFAULT_LIMITS,
                   unsafe: bool = False, threads: int = 1) -> dict[str, Verdict]:
    """Run every test cell of ``source_nb`` against the answers of ``submission_nb``.

    Returns:
        ``{test grade id: Verdict}`` for every test cell.
    """
    program = build_program(source_nb, submission_nb)
    tests = [s["id"] for s in program.steps if s["kind"] == "test"]
    verdicts: dict[str, Verdict] = {}
    for test, (answer, reasons) in program.refused.items():
        verdicts[test] = Verdict(False, "Not graded: your answer cell " + answer + " "
                                 + "; ".join(reasons), note="; ".join(reasons), answer=answer)
    cell_errors: dict[str, str] = {}
    nonce = secrets.token_hex(16)
    env = {"COURSE_QUICK": "1" if quick else "0", "MPLBACKEND": "Agg",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}

    def step_of(line: str):
        event = _event(line, nonce)
        return event["id"] if event and event.get("event") == "start" else None

    for _ in range(len(tests) + 1):
        todo = [t for t in tests if t not in verdicts]
        if not todo:
            break
        request = {"nonce": nonce, "steps": program.steps, "output_cap": OUTPUT_CAP,
                   "skip": sorted(verdicts)}
        with tempfile.TemporaryDirectory(prefix="course-grade-") as workdir:
            outcome = run_sandboxed([sys.executable, "-I", str(CHECKER)], workdir,
                                    stdin=json.dumps(request).encode(), env=env,
                                    limits=limits, unsafe=unsafe, step_of=step_of)
        for line in outcome.lines:
            event = _event(line, nonce)
            if event and event.get("event") == "result" and event.get("id") in todo:
                bound = BOUNDS.get(event.get("bound"))
                verdicts[event["id"]] = Verdict(
                    bool(event.get("passed")), printable(str(event.get("message", ""))),
                    note=bound, answer=(program.answers.get(event["id"]) or [None])[-1]
                    if bound else None)
            elif event and event.get("event") == "cell-error":
                cell_errors.setdefault(str(event.get("id")), printable(str(event["message"])))
        running = outcome.running if outcome.running in todo else None
        if running and running not in verdicts:
            reason = _stopped_reason(outcome, limits)
            verdicts[running] = Verdict(False, f"Not graded: {reason}.", note=reason,
                                        answer=(program.answers.get(running) or [None])[-1])
        elif not any(t in verdicts for t in todo):  # no progress: the process failed to start
            for test in todo:
                verdicts[test] = Verdict(False, "Not graded: the grading process failed: "
                                         + printable(outcome.output[-500:]),
                                         note="the grading process failed to start")
    for test, verdict in verdicts.items():
        errors = [f"your cell {a} raised {cell_errors[a]}" for a in program.answers.get(test, [])
                  if a in cell_errors]
        if errors and not verdict.passed:
            verdict.message += "\n" + "\n".join(errors)
    return verdicts


def _event(line: str, nonce: str) -> dict | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and event.get("nonce") == nonce else None
