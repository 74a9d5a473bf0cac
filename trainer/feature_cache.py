"""Feature matrices kept on disk, so a retrain that changed only a hyperparameter does not featurise again.

Features are a pure function of the molecules, the feature spec and the featuriser's code (with the RDKit
and NumPy that run it), so an entry is named by a hash of those and nothing else. An entry is one JSON line
(its key and the CRC-32 of the matrix) and the matrix in NumPy's `.npy` format, written to a temp file and
renamed into place, so a killed run leaves no half entry; a damaged entry is recomputed rather than trusted. The
folder is bounded in size; the least recently used entries go first. The cache is never part of the run key:
a hit gives the same bits as a miss.

Where: `$TRAINER_FEATURE_CACHE` when set (`off` turns the cache off), else `features/` beside a SQLite store;
a server store has no cache unless the variable names a folder. Bound: `$TRAINER_FEATURE_CACHE_MB`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.errors import BadInput
from trainer.tracking import sqlite_path

if TYPE_CHECKING:
    import numpy as np

FOLDER_VARIABLE = "TRAINER_FEATURE_CACHE"
LIMIT_VARIABLE = "TRAINER_FEATURE_CACHE_MB"
DEFAULT_LIMIT_MB = 4096
FORMAT = "1"
SUFFIX = ".features"
TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 3600

_active: ContextVar[FeatureCache | None] = ContextVar("feature_cache", default=None)


@dataclass(frozen=True)
class FeatureCache:
    """One cache folder and its size bound in bytes."""

    folder: Path
    limit_bytes: int

    def get_or_compute(
        self, smiles: Sequence[str], spec_json: str, code: str, compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """The cached matrix for these molecules, spec and code, else `compute()`'s, stored for next time."""
        key = entry_key(smiles, spec_json, code)
        path = self.folder / f"{key}{SUFFIX}"
        if (found := self._read(path, key, len(smiles))) is not None:
            return found
        matrix = compute()
        self._write(path, key, matrix)
        return matrix

    def _read(self, path: Path, key: str, rows: int) -> np.ndarray | None:
        import numpy as np

        try:
            with path.open("rb") as handle:
                header = json.loads(handle.readline())
                matrix = np.lib.format.read_array(handle, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):
            path.unlink(missing_ok=True)
            return None
        intact = header == {"format": FORMAT, "key": key, "crc32": _checksum(matrix)}
        if not intact or matrix.ndim != 2 or len(matrix) != rows:
            path.unlink(missing_ok=True)
            return None
        _touch(path)
        return matrix

    def _write(self, path: Path, key: str, matrix: np.ndarray) -> None:
        import numpy as np

        if matrix.nbytes > self.limit_bytes:
            return
        matrix = np.ascontiguousarray(matrix)
        header = json.dumps({"format": FORMAT, "key": key, "crc32": _checksum(matrix)}) + "\n"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor, name = tempfile.mkstemp(dir=self.folder, prefix=TEMP_PREFIX, suffix=SUFFIX)
        except OSError:
            return  # a read-only or full disk costs the next run a featurisation, not this run its training
        temp = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(header.encode())
                np.lib.format.write_array(handle, matrix, allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(path)
        except OSError:
            temp.unlink(missing_ok=True)
            return
        _touch(path)
        self.evict()

    def evict(self) -> None:
        """Delete least recently used entries until the rest fit the bound, and temp files left by killed runs."""
        entries, now = [], time.time()
        for path in self.folder.iterdir():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if path.name.startswith(TEMP_PREFIX):
                if now - stat.st_mtime > STALE_TEMP_SECONDS:
                    path.unlink(missing_ok=True)
            elif path.suffix == SUFFIX:
                entries.append((stat.st_mtime_ns, stat.st_size, path))
        total = 0
        for _, size, path in sorted(entries, reverse=True):
            total += size
            if total > self.limit_bytes:
                path.unlink(missing_ok=True)


def entry_key(smiles: Sequence[str], spec_json: str, code: str) -> str:
    digest = hashlib.sha256(f"{FORMAT}\n{code}\n{spec_json}\n{len(smiles)}\n".encode())
    digest.update("\n".join(smiles).encode())
    return digest.hexdigest()


def _checksum(matrix: np.ndarray) -> int:
    """CRC-32 of the matrix's bytes: a damaged entry must not pass as features, and this reads at ~1 GB/s."""
    import numpy as np

    return zlib.crc32(memoryview(np.ascontiguousarray(matrix)).cast("B"))


def _touch(path: Path) -> None:
    """Mark as just used; nanoseconds from the clock, since a file system's own times can tie within a tick."""
    now = time.time_ns()
    with suppress(OSError):
        os.utime(path, ns=(now, now))


def for_store(uri: str) -> FeatureCache | None:
    """The cache of a tracking store as the environment sets it; a bad setting is refused naming the variable."""
    limit = _limit_bytes()
    chosen = os.environ.get(FOLDER_VARIABLE, "").strip()
    if chosen == "off":
        return None
    if chosen:
        return FeatureCache(Path(chosen), limit)
    database = sqlite_path(uri)
    return FeatureCache(database.parent / "features", limit) if database else None


def _limit_bytes() -> int:
    text = os.environ.get(LIMIT_VARIABLE, str(DEFAULT_LIMIT_MB)).strip()
    try:
        megabytes = int(text)
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise BadInput(f"{LIMIT_VARIABLE}: {text!r} is not a whole number of megabytes >= 0")
    return megabytes * 1024 * 1024


@contextmanager
def active(cache: FeatureCache | None) -> Iterator[None]:
    """Featurisation inside this block goes through `cache`; predictions outside it (serving) never touch disk."""
    token = _active.set(cache)
    try:
        yield
    finally:
        _active.reset(token)


def current() -> FeatureCache | None:
    return _active.get()
