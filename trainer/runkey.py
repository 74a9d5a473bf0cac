"""The composite run key: which code, which config, which data.

Code hash: the bytes of the trainer sources a model family runs, that is every `trainer` module reachable by
import from the pipeline and from the family's own module (other families are loaded by name, so they never
are), plus the pinned requirements. It is computed from files, so it is the same inside the container, where
there is no `.git`; the command line, `invoke predict` and the other families stay out of it.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from trainer.paths import PACKAGE, PROJECT, REQUIREMENTS

KEY_SCHEMA = "1"


@dataclass(frozen=True)
class KeyParts:
    code_hash: str
    config_hash: str
    data_hash: str
    code_files: dict[str, str]

    @property
    def run_key(self) -> str:
        text = "\n".join([KEY_SCHEMA, self.code_hash, self.config_hash, self.data_hash])
        return hashlib.sha256(text.encode()).hexdigest()

    def tags(self) -> dict[str, str]:
        return {
            "run_key": self.run_key,
            "code_hash": self.code_hash,
            "config_hash": self.config_hash,
            "data_hash": self.data_hash,
            "key_schema": KEY_SCHEMA,
            "code_files": json.dumps(self.code_files, sort_keys=True, separators=(",", ":")),
        }


def key_parts(family: str, key_json: str, data_hash: str) -> KeyParts:
    files = {str(path.relative_to(PROJECT)): _file_hash(path) for path in code_files(family)}
    manifest = json.dumps(files, sort_keys=True).encode()
    return KeyParts(
        code_hash=hashlib.sha256(manifest).hexdigest(),
        config_hash=hashlib.sha256(key_json.encode()).hexdigest(),
        data_hash=data_hash,
        code_files={name: digest[:12] for name, digest in files.items()},
    )


def code_files(family: str) -> list[Path]:
    """The files whose bytes make up `family`'s code hash, sorted."""
    if not REQUIREMENTS.is_file():
        raise FileNotFoundError(f"{REQUIREMENTS} is missing: it is part of every run's code hash")
    entry_points = [PACKAGE / "pipeline.py", PACKAGE / "models" / f"{family}.py"]
    return sorted({*_reachable(entry_points), REQUIREMENTS})


def _reachable(entry_points: list[Path]) -> set[Path]:
    """The entry points and every trainer module they import, at any depth, lazy imports included."""
    found: set[Path] = set()
    pending = list(entry_points)
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.add(current)
        pending += [path for name in _imported_names(current.read_text()) if (path := _module_file(name))]
    return found


@cache
def _imported_names(source: str) -> tuple[str, ...]:
    """Every name an import statement in `source` may load, lazy imports included. Parsed once per text: every
    config of a run shares the pipeline's modules, and parsing them again for each was most of the skip path."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return tuple(names)


def _module_file(name: str) -> Path | None:
    """The source file of a `trainer` module, or None for anything else (a function, another package)."""
    parts = name.split(".")
    if parts[0] != PACKAGE.name:
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def differences(
    current: KeyParts, previous_tags: dict[str, str], previous_params: dict[str, str], params: dict[str, str]
) -> list[str]:
    """Human-readable reasons why `current` differs from an earlier run's key parts."""
    reasons = []
    if previous_tags.get("key_schema") != KEY_SCHEMA:
        reasons.append(f"key schema {previous_tags.get('key_schema')} -> {KEY_SCHEMA}")
    if previous_tags.get("code_hash") != current.code_hash:
        before = json.loads(previous_tags.get("code_files", "{}"))
        changed = sorted(
            name
            for name in before.keys() | current.code_files.keys()
            if before.get(name) != current.code_files.get(name)
        )
        reasons.append("code differs: " + (", ".join(changed) if changed else "(file list unknown)"))
    if previous_tags.get("config_hash") != current.config_hash:
        changed = sorted(
            f"{name} {previous_params.get(name, '(unset)')} -> {params.get(name, '(unset)')}"
            for name in previous_params.keys() | params.keys()
            if previous_params.get(name) != params.get(name)
        )
        reasons.append("config differs: " + (", ".join(changed) if changed else "(location keys only)"))
    if previous_tags.get("data_hash") != current.data_hash:
        reasons.append(f"data differs: {previous_tags.get('data_hash', '?')[:12]} -> {current.data_hash[:12]}")
    return reasons
