"""Where the project is: the trainer package, the project folder around it and its pinned requirements.

Found from this file, so the same inside the container, where there is no `.git`; the code hash, the
embedded store and the logged models all start from here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
PROJECT = PACKAGE.parent
REQUIREMENTS = PROJECT / "requirements.txt"
