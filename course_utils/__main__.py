"""Command line: ``python -m course_utils {run,build,env,data}``."""

from __future__ import annotations

import argparse
import sys

from course_utils import datasets_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute every solution notebook and print a summary")
    run.add_argument("lessons", nargs="*", help="lesson numbers to run (default: all)")
    run.add_argument("--full", action="store_true", help="full mode instead of quick mode")
    run.add_argument("--out", default=None, help="folder for the executed notebooks")

    build = sub.add_parser("build", help="build solutions/ and exercises/ from notebooks/src")
    build.add_argument("lessons", nargs="*", help="lesson numbers to build (default: all)")
    build.add_argument("--check", action="store_true",
                       help="only report stale notebooks; exit 1 if any")
    build.add_argument("--pin", nargs="+", metavar="LESSON", default=[],
                       help="first execute these lessons and store the outputs of their "
                            "'# NBVAL_CHECK_OUTPUT' cells")

    sub.add_parser("env", help="print the environment report and where each dataset is read from")

    datasets_cli.add_arguments(
        sub.add_parser("data", help="status, link, fetch, prepare and synth the datasets"))

    args = parser.parse_args(argv)
    if args.command == "run":
        from course_utils import runner

        kwargs = {"out_dir": args.out} if args.out else {}
        rows = runner.run_lessons(args.lessons or None, quick=not args.full, **kwargs)
        runner.print_summary(rows)
        return 0 if all(r["status"] == "ok" for r in rows) else 1
    if args.command == "build":
        from course_utils import authoring

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
    if args.command == "data":
        return datasets_cli.run(args)
    if args.command == "env":
        from course_utils import config, data

        config.print_table(config.environment_report())
        for name in data.registry():
            print(f"{name}: {data.locate(name)}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
