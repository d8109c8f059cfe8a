"""course_utils: the plumbing behind the segmentation notebook course.

Import the submodules you need (``from course_utils import data, models, training``);
importing the package itself does nothing else.
"""

__version__ = "0.1.0"
