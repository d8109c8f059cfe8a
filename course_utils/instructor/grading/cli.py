"""``python -m course_utils grade ACTION``: nbgrader for this course, one step at a time.

- ``init DIR``: a course folder (nbgrader_config.py once, ``source/`` from the solutions);
- ``release [LESSON ...]``: generate the students' versions, check each against the exercise
  notebook, and release them to the exchange;
- ``collect [LESSON ...]``: take new submissions from the exchange and report problems;
- ``autograde [LESSON ...] [--jobs N] [--full] [--unsafe]``: grade every readable
  submission in the sandbox (N at once), write feedback HTML
  (``feedback/<student>/<lesson>/``), print a report per lesson and draw ``reports/*.png``;
- ``autograde --slurm TASKS``: the same, graded first as a Slurm job array;
- ``array [LESSON ...] --tasks N``: write that array's Slurm and LSF scripts (``slurm/``);
- ``work [LESSON ...] --shard I/N``: grade one shard into ``verdicts/`` (a job array's task;
  ``autograde`` afterwards grades only what is missing and writes the gradebook);
- ``export --to grades.csv``: scores per student and lesson;
- ``points``: the points of every lesson.

Every action but ``points`` works on ``--course DIR`` (default: the current folder).
"""

from __future__ import annotations

import argparse
import sys

from course_utils.instructor import grading


def main(argv: list[str] | None = None) -> int:
    """Parse and run one ``grade`` action; bad input prints an error, not a traceback."""
    args = _parser().parse_args(argv)
    try:
        if args.action == "init":
            path = grading.init_course(args.dir, exchange=args.exchange)
            print(f"course folder: {path}\nnext: python -m course_utils grade release "
                  f"--course {path}")
        elif args.action == "release":
            for name in grading.release(args.course, args.lessons or None):
                print(f"released: {name} (equal to notebooks/exercises/{name}.ipynb)")
        elif args.action in ("collect", "autograde"):
            if args.action == "collect":
                findings = grading.collect(args.course, args.lessons or None)
            else:
                findings = grading.autograde(args.course, args.lessons or None,
                                             full=args.full, unsafe=args.unsafe,
                                             jobs=args.jobs, progress=True, slurm=args.slurm,
                                             sbatch_options=args.sbatch)
            for line in findings:
                print(f"note: {line}")
            print(f"{args.action}: done" + (f", {len(findings)} note(s) above" if findings
                                            else ", no problems found"))
            if args.action == "autograde":
                print("\n".join(grading.summary(args.course, args.lessons or None, args.full)))
        elif args.action == "array":
            job = grading.write_grading_array(args.course, args.lessons or None, args.tasks,
                                              full=args.full, unsafe=args.unsafe)
            print(f"Slurm: sbatch {job.script('slurm')}\nLSF:   bsub < {job.script('lsf')}\n"
                  f"then: python -m course_utils grade autograde --course {args.course} "
                  f"(it grades only what the array left, and writes the gradebook)")
        elif args.action == "work":
            index, count = _shard(args.shard)
            done = grading.grade_shard(args.course, args.lessons or None, index, count,
                                       full=args.full, unsafe=args.unsafe, jobs=args.jobs)
            print(f"shard {index}/{count}: graded {done['done']} submission(s) in "
                  f"{done['seconds']:.0f} s, {len(done['stopped'])} test(s) stopped")
        elif args.action == "export":
            print(f"grades: {grading.export(args.course, args.to)}")
        elif args.action == "points":
            print(f"{'lesson':28s} {'autograded':>10s} {'by hand':>8s} {'total':>6s}")
            for name, auto, manual in grading.points_table():
                print(f"{name:28s} {auto:>10g} {manual:>8g} {auto + manual:>6g}")
    except grading.GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise grading.GradingError(f"--shard {text!r}: write it as I/N, e.g. 3/10") from None
    if not 0 <= index < count:
        raise grading.GradingError(f"--shard {text!r}: I must be in 0..N-1")
    return index, count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    init = sub.add_parser("init", help="make a course folder from notebooks/")
    init.add_argument("dir", help="the course folder (created if missing)")
    init.add_argument("--exchange", default=None,
                      help="nbgrader's exchange folder (default: DIR/exchange); on a hub one "
                           "that every user can reach, e.g. /srv/nbgrader/exchange")
    for action, text in (("release", "release lessons to the exchange"),
                         ("collect", "collect new submissions"),
                         ("autograde", "autograde submissions and write feedback"),
                         ("work", "grade one shard into verdicts/ (a job array's task)"),
                         ("array", "write the Slurm and LSF scripts of a grading job array")):
        step = sub.add_parser(action, help=text)
        step.add_argument("lessons", nargs="*", help="lesson numbers, e.g. 02 (default: all)")
        step.add_argument("--course", default=".", help="the course folder (default: .)")
        if action == "work":
            step.add_argument("--shard", required=True, metavar="I/N",
                              help="grade every N-th readable submission from the I-th "
                                   "(0-based), e.g. $SLURM_ARRAY_TASK_ID/10")
        if action == "autograde":
            step.add_argument("--slurm", type=int, default=0, metavar="TASKS",
                              help="grade as a Slurm job array of TASKS shards first "
                                   "(again after a failure: only the missing tasks run)")
            step.add_argument("--sbatch", action="append", default=[], metavar="OPTION",
                              help="an option for sbatch, e.g. --sbatch=--partition=gpu "
                                   "(repeatable)")
        if action == "array":
            step.add_argument("--tasks", type=int, required=True,
                              help="how many array tasks (shards) to split the class into")
        if action in ("autograde", "work", "array"):
            step.add_argument("--jobs", type=int, default=1,
                              help="submissions graded at once, each in its own sandbox "
                                   "(default 1)")
            step.add_argument("--full", action="store_true",
                              help="grade with full-mode parameters (default: quick mode, "
                                   "as `run`)")
            step.add_argument("--unsafe", action="store_true",
                              help="grade even where bubblewrap cannot make a sandbox")
    export = sub.add_parser("export", help="write the grades to a CSV file")
    export.add_argument("--course", default=".", help="the course folder (default: .)")
    export.add_argument("--to", default="grades.csv", help="the CSV file (default: grades.csv)")
    sub.add_parser("points", help="print the points of every lesson")
    return parser
