"""Render a host script: a bash template from ops/ with a block of read-only, shell-quoted values.

The template refers to its values as ordinary shell variables; the block replaces the marker line. So the
template stays a plain bash file, and no value is ever pasted into code: each one is a single quoted word.
A line `# @include NAME@` is replaced by the bash fragment ops/NAME, which is how host scripts share code
(host_pull.sh: the registry login and the image pull).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent
MARKER = "# @values@"
_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_INCLUDE = re.compile(r"^# @include ([A-Za-z0-9_-]+\.sh)@$", re.MULTILINE)

Value = str | int | Sequence[str]


def assignment(name: str, value: Value) -> str:
    """One `readonly` line; a sequence becomes a bash array."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"host script variable {name!r} is not an upper-case shell name")
    if isinstance(value, str | int):
        return f"readonly {name}={shlex.quote(str(value))}"
    return f"readonly -a {name}=({' '.join(shlex.quote(item) for item in value)})"


def render(template: str, values: Mapping[str, Value]) -> str:
    """The template file `template` (a name under ops/) with its fragments included and its marker line
    replaced by the values."""
    # Fragments first: a value is never searched for include lines.
    text = _INCLUDE.sub(lambda line: (TEMPLATES / line[1]).read_text().rstrip("\n"), (TEMPLATES / template).read_text())
    if text.splitlines().count(MARKER) != 1:
        raise ValueError(f"{template}: needs exactly one line {MARKER!r}")
    block = "\n".join(assignment(name, value) for name, value in values.items())
    return text.replace(MARKER, block, 1)
