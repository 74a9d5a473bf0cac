"""The shell script that compacts the MLflow store on the training host, rendered with quoted values.

The script runs on the host (sent over SSM or SSH by the caller); its stdout carries the vacuum's report
line, which `ops.vacuum.VacuumReport.from_output` reads back, and its exit status is the vacuum's.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from trainer.errors import BadInput

TEMPLATE = Path(__file__).with_name("host_maintenance.sh.tmpl")
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def render_host_maintenance(
    *,
    image: str,
    data_dir: str,
    backups_kept: int,
    lock_timeout: int,
    busy_timeout: int,
    health_url: str,
    health_timeout: int,
) -> str:
    """The host script for the store in `data_dir`; `image` is a full reference already pulled on the host."""
    if not image:
        raise BadInput("image: the training image reference is empty")
    if not data_dir.startswith("/"):
        raise BadInput(f"host.data_dir: must be an absolute path on the host, got {data_dir!r}")
    values = {
        "IMAGE": image,
        "DATA_DIR": data_dir.rstrip("/") or "/",
        "BACKUPS_KEPT": int(backups_kept),
        "LOCK_TIMEOUT": int(lock_timeout),
        "BUSY_TIMEOUT": int(busy_timeout),
        "HEALTH_URL": health_url,
        "HEALTH_TIMEOUT": int(health_timeout),
    }
    return render_template(TEMPLATE.read_text(), values)


def render_template(text: str, values: Mapping[str, object]) -> str:
    """Replace every {{NAME}} with its value, shell-quoted; every placeholder and every value must be used."""
    placeholders = set(_PLACEHOLDER.findall(text))
    missing, unused = sorted(placeholders - set(values)), sorted(set(values) - placeholders)
    if missing or unused:
        raise ValueError(f"placeholders without values {missing}, values without placeholders {unused}")
    return _PLACEHOLDER.sub(lambda match: shlex.quote(str(values[match.group(1)])), text)
