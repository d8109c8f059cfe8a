"""Synthetic twins of the course datasets, in the real datasets' exact layouts (no real pixels).

``make_synthetic_phc`` (``cells.py``) writes cells imaged as a phase-contrast microscope would
(``phase_contrast.py``), matched to the real crops' ``fingerprint``; and
``make_synthetic_facade`` photograph-like facades (``facades.py``). Both are deterministic:
the same arguments write the same bytes. ``TWIN_VERSION`` names the generators' current output.
"""

from course_utils.synthetic.cells import make_synthetic_phc
from course_utils.synthetic.common import TWIN_VERSION
from course_utils.synthetic.facades import make_synthetic_facade
from course_utils.synthetic.phase_contrast import PhaseContrast

__all__ = ["TWIN_VERSION", "PhaseContrast", "make_synthetic_facade", "make_synthetic_phc"]
