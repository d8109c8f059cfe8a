"""The grading process: runs inside the sandbox, started by path (``python -I checker.py``)
so that it imports nothing of the grader.

It reads one program from standard input (JSON: steps in notebook order, made by
``grading.sandboxed`` from the instructor's source notebook and the student's answer
cells) and writes one JSON line per event to the result channel (``$COURSE_RESULT_FD``):
``start`` before each test, ``result`` after it, ``cell-error`` when a cell's definitions
raise. Every line carries the run's nonce; the grader ignores lines without it.

Step kinds:

- ``run``: executed as it is (the instructor's parameters cell);
- ``defs``: only its imports, ``def``/``class`` statements and call-free assignments are
  executed: an answer cell's other top-level statements never run, and neither does the
  lesson's training;
- ``defs-given``: an answer cell: its definitions and the top-level statements that the
  instructor's cell has too (the grader lists them by index);
- ``test``: a test cell of the instructor's source notebook, hidden tests included, executed
  as it is; passing means it finished without an exception.
"""

import ast
import contextlib
import io
import json
import os
import sys
import time

# The folder holding the course_utils this file belongs to (the package the sandbox binds
# read-only). It goes first on sys.path, so that the checks come from that very package, not
# from another copy an editable install points at, which the sandbox does not show.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class OutputLimit(Exception):
    """The test printed more than the grader keeps."""


class _Capped(io.TextIOBase):
    def __init__(self, cap: int):
        self.cap, self.parts, self.size = cap, [], 0

    def writable(self):
        return True

    def write(self, text):
        self.size += len(text)
        if self.size > self.cap:
            raise OutputLimit(f"the test printed more than {self.cap} characters")
        self.parts.append(text)
        return len(text)

    def getvalue(self):
        return "".join(self.parts)


def _call_free(node) -> bool:
    """An assignment of names to a value computed without calls (a constant, a sum)."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets = [node.target]
    else:
        return False
    return all(isinstance(t, ast.Name) for t in targets) and \
        not any(isinstance(n, (ast.Call, ast.Lambda, ast.Await)) for n in ast.walk(node.value))


def definitions(source: str, given=None) -> ast.Module:
    """The statements of ``source`` that a ``defs`` step executes; with ``given`` (indices
    of top-level statements), exactly those."""
    tree = ast.parse(source)
    if given is None:
        tree.body = [n for n in tree.body if isinstance(n, KEPT) or _call_free(n)]
    else:
        tree.body = [n for i, n in enumerate(tree.body) if i in set(given)]
    return tree


def _message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if exc.__cause__ is not None:
        text += f"\n  (your code raised {type(exc.__cause__).__name__}: {exc.__cause__})"
    return text


def _bound(exc: BaseException) -> str | None:
    """Which of the sandbox's bounds stopped the test, if one did."""
    if isinstance(exc, OutputLimit):
        return "output"
    text = f"{exc} {exc.__cause__}"
    if isinstance(exc, MemoryError) or "can't allocate memory" in text \
            or "out of memory" in text.lower():
        return "memory"
    return None


def main() -> None:
    channel = os.fdopen(int(os.environ.pop("COURSE_RESULT_FD")), "w", buffering=1)
    program = json.loads(sys.stdin.read())
    sys.path.insert(0, PACKAGE_ROOT)
    nonce, skip, cap = program["nonce"], set(program.get("skip", ())), program["output_cap"]

    def emit(**event):
        channel.write(json.dumps({"nonce": nonce, **event}) + "\n")
        channel.flush()

    namespace = {"__name__": "__main__"}
    for step in program["steps"]:
        kind, step_id, source = step["kind"], step["id"], step["source"]
        if kind in ("run", "defs", "defs-given"):
            try:
                code = ast.parse(source) if kind == "run" else \
                    definitions(source, step.get("given") if kind == "defs-given" else None)
                with contextlib.redirect_stdout(_Capped(cap)):
                    exec(compile(code, f"<cell {step_id}>", "exec"), namespace)
            except BaseException as exc:  # noqa: BLE001 (a student's cell may raise anything)
                emit(event="cell-error", id=step_id, message=_message(exc)[:2000])
            continue
        if step_id in skip:
            continue
        emit(event="start", id=step_id)
        started, out = time.perf_counter(), _Capped(cap)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(compile(source, f"<test {step_id}>", "exec"), namespace)
            passed, message, bound = True, out.getvalue(), None
        except BaseException as exc:  # noqa: BLE001 (SystemExit and KeyboardInterrupt too)
            printed = out.getvalue()[-1500:] if not isinstance(exc, OutputLimit) else ""
            passed, message, bound = False, printed + _message(exc), _bound(exc)
        emit(event="result", id=step_id, passed=passed, message=message[-2000:], bound=bound,
             seconds=round(time.perf_counter() - started, 3))
    emit(event="done")


if __name__ == "__main__":
    main()
