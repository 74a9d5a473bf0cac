"""INVOKE_<SECTION>_<KEY> overrides of invoke.yaml's whole-number keys, checked before invoke reads them.

invoke casts such a variable to the type of the value it overrides and lets `int('abc')` end the program with
a traceback, before any task could refuse it; `refused_override` names the variable instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml


def refused_override(config_file: Path, environ: Mapping[str, str]) -> str | None:
    """One line naming the first INVOKE_* variable that cannot override a whole-number key; None if none."""
    settings = yaml.safe_load(config_file.read_text()) or {}
    for section, keys in settings.items():
        for key, default in (keys or {}).items():
            if not isinstance(default, int) or isinstance(default, bool):
                continue
            variable = f"INVOKE_{section}_{key}".upper()
            if variable in environ and not _is_int(environ[variable]):
                return f"{variable}: {environ[variable]!r} is not a whole number (it overrides {section}.{key})"
    return None


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
