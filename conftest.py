"""Repository-wide pytest set-up: tests and notebook runs use quick mode unless told otherwise."""

import os

os.environ.setdefault("COURSE_QUICK", "1")
