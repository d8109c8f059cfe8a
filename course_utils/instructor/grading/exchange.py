"""nbgrader's exchange with real Unix users: what keeps one student from another's work.

nbgrader hides submissions by names nobody can list (``inbound`` is ``-wx``) or guess (a
timestamp and 72 random bits), but makes each submission's folder world-writable (0777)
and leaves ``inbound`` without the sticky bit: whoever learns a name can empty, replace or
rename another student's submission, and anyone can hand something in under another
student's name. Here:

- ``release`` sets the sticky bit on ``inbound`` (``seal_inbound``): only an entry's owner
  (and the instructor) may rename or remove it;
- ``PrivateSubmit`` (the students' ``c.ExchangeFactory.submit``) leaves the submission's
  folder 0755: others may read it if they know its name, never change it;
- ``collect`` moves every entry whose Unix owner is not the student it names into the
  course's ``quarantine/`` before nbgrader collects, and says so (``quarantine_impostors``).
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from nbgrader.exchange.default.submit import ExchangeSubmit

__all__ = ["PrivateSubmit", "quarantine_impostors", "seal_inbound"]


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, without the world-writable submission folder."""

    def copy_files(self):
        super().copy_files()
        dest = Path(self.inbound_path) / self.assignment_filename
        if dest.is_dir():
            dest.chmod(0o755)


def seal_inbound(exchange, course_id: str) -> Path | None:
    """Set the sticky bit on the course's ``inbound`` (if we own it); return it."""
    inbound = Path(exchange) / course_id / "inbound"
    if not inbound.is_dir() or inbound.stat().st_uid != os.geteuid():
        return None
    inbound.chmod(stat.S_IMODE(inbound.stat().st_mode) | stat.S_ISVTX)
    return inbound


def quarantine_impostors(exchange, course_id: str, quarantine) -> list[str]:
    """Move the entries of ``inbound`` whose owner is a Unix user other than the student they
    name into ``quarantine`` (entries of the instructor's or of unknown uids stay); one line
    per entry moved."""
    inbound = Path(exchange) / course_id / "inbound"
    found = []
    for entry in sorted(inbound.iterdir()) if inbound.is_dir() else []:
        student = entry.name.split("+", 1)[0]
        owner = entry.stat().st_uid
        if owner == os.geteuid():
            continue
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            continue
        if name != student:
            Path(quarantine).mkdir(parents=True, exist_ok=True)
            entry.rename(Path(quarantine) / entry.name)
            found.append(f"{entry.name}: handed in under {student}'s name by the Unix user "
                         f"{name}; moved to {quarantine}, not collected")
    return found
