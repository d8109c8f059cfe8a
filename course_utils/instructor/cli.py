"""Command line: ``python -m course_utils {run,build,book,env,data,grade,hub-link}``.

One parser and one handler per command; each handler imports only what its command needs,
so that ``build`` or ``hub-link`` never import torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run(args, parser) -> int:
    from course_utils.instructor import runner

    kwargs = {"out_dir": args.out} if args.out else {}
    if args.cell_timeout:
        kwargs["timeout"] = args.cell_timeout
    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            parser.error(f"--set {item!r}: write NAME=VALUE, e.g. --set SEED=1")
        overrides[name.strip()] = value.strip()
    if overrides:
        kwargs["overrides"] = overrides
    try:
        rows = runner.run_lessons(args.lessons or None, quick=args.mode == "quick", **kwargs)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runner.print_summary(rows)
    if args.profile:
        runner.print_profile(rows)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def _build(args, parser) -> int:
    from course_utils.instructor import authoring

    for source in authoring.lesson_sources():
        if any(source.stem.startswith(x) for x in args.pin):
            print(f"pinned: {authoring.pin(source)}")
    changed = authoring.build(check=args.check, lessons=args.lessons or None)
    for path in changed:
        print(("stale: " if args.check else "wrote: ") + str(path))
    if args.check and changed:
        print("run `python -m course_utils build` and commit the notebooks")
        return 1
    return 0


def _book(args, parser) -> int:
    from course_utils.instructor import book

    editions = book.EDITIONS if args.edition == "both" else (args.edition,)
    kwargs = {"executed_dir": Path(args.executed)} if args.executed else {}
    try:
        for edition in editions:
            out = Path(args.out) / edition if args.out else None
            print(f"{edition}: {book.build_book(edition, out_dir=out, **kwargs)}")
    except book.BookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _hub_link(args, parser) -> int:
    from course_utils.instructor import hublink

    try:
        repo = args.repo or hublink.default_repo()
        print(hublink.hub_link(args.hub, repo, branch=args.branch, lesson=args.lesson))
    except ValueError as exc:
        parser.error(str(exc))
    return 0


def _env(args, parser) -> int:
    from course_utils import config, data

    config.print_table(config.environment_report())
    for name in data.registry():
        print(f"{name}: {data.locate(name)}")
    return 0


def _data(argv: list[str]) -> int:
    # The data and grade commands parse their own arguments: the other commands stay light,
    # without importing torch for the data package.
    from course_utils.data import cli

    return cli.main(argv)


def _grade(argv: list[str]) -> int:
    from course_utils.instructor.grading import cli

    return cli.main(argv)


SELF_PARSED = {"data": _data, "grade": _grade}


def parser_of_commands() -> argparse.ArgumentParser:
    """The parser of every command; ``data`` and ``grade`` are listed for the help only."""
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute every solution notebook and print a summary")
    run.add_argument("lessons", nargs="*", help="lesson numbers to run (default: all)")
    run.add_argument("--mode", choices=["quick", "full"], default="quick",
                     help="quick: smaller images, fewer epochs (COURSE_QUICK=1); full: the "
                          "lessons as written (default: quick)")
    run.add_argument("--full", action="store_const", dest="mode", const="full",
                     help="short for --mode full")
    run.add_argument("--out", default=None, help="folder for the executed notebooks")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a parameter of the lessons' parameters cell, e.g. "
                          "--set SEED=1 (repeatable)")
    run.add_argument("--profile", action="store_true",
                     help="also print each lesson's slowest cells and its time per phase")
    run.add_argument("--cell-timeout", type=int, default=None, metavar="SECONDS",
                     help="fail a lesson whose cell runs longer (default: 600)")
    run.set_defaults(handler=_run)

    build = sub.add_parser("build", help="build solutions/ and exercises/ from notebooks/src")
    build.add_argument("lessons", nargs="*", help="lesson numbers to build (default: all)")
    build.add_argument("--check", action="store_true",
                       help="only report stale notebooks; exit 1 if any")
    build.add_argument("--pin", nargs="+", metavar="LESSON", default=[],
                       help="first execute these lessons and store the outputs of their "
                            "'# NBVAL_CHECK_OUTPUT' cells")
    build.set_defaults(handler=_build)

    book = sub.add_parser("book", help="build the static HTML book from the executed lessons "
                                       "(after `run` or `run --full`)")
    book.add_argument("--edition", choices=["students", "instructors", "both"], default="both",
                      help="students: tasks as in the exercises (safe to publish); "
                           "instructors: the solutions as they ran (default: both)")
    book.add_argument("--executed", default=None,
                      help="folder of executed notebooks (default: notebooks/executed)")
    book.add_argument("--out", default=None,
                      help="folder for the sites, one per edition (default: notebooks/book)")
    book.set_defaults(handler=_book)

    env = sub.add_parser("env", help="print the environment report and where each dataset is "
                                     "read from")
    env.set_defaults(handler=_env)

    sub.add_parser("data", add_help=False,
                   help="status, link, fetch, prepare and synth the datasets (see `data -h`)")
    sub.add_parser("grade", add_help=False,
                   help="grade with nbgrader: init, release, collect, autograde, export, points "
                        "(see `grade -h`)")

    link = sub.add_parser("hub-link", help="print an nbgitpuller link that hands out the course")
    link.add_argument("--hub", required=True, help="the hub's address, e.g. https://hub.example.edu")
    link.add_argument("--repo", default=None,
                      help="git URL students clone (default: this checkout's 'origin')")
    link.add_argument("--branch", default=None, help="branch to pull (default: the repo's default)")
    link.add_argument("--lesson", default=None,
                      help="open this lesson's exercise, e.g. 00 (default: the course folder)")
    link.set_defaults(handler=_hub_link)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in SELF_PARSED:
        return SELF_PARSED[argv[0]](argv[1:])
    parser = parser_of_commands()
    args = parser.parse_args(argv)
    return args.handler(args, parser)
