"""Command line: ``python -m course_utils {run,build,book,env,data,grade,hub-link}``.

The commands are the instructor's tools (``course_utils.instructor.cli``); this file is only
the door ``python -m`` looks for.
"""

import sys

from course_utils.instructor.cli import main

if __name__ == "__main__":
    sys.exit(main())
