"""What the hardware allows, beside what the project does: a bare RDKit loop and `sha256sum`.

The bare loop computes the same numbers as trainer.features on the same molecules with the same number of
processes and chunks, and nothing else: no spec, no NaN rows, no clipping. The ratios say how much of the
machine the project's own code leaves on the table.
"""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

CHUNK = 500


def featurisation(smiles: list[str], repeats: int) -> list[dict[str, Any]]:
    """Molecules/s of trainer.features against the bare loop, per descriptor set, best of `repeats`, interleaved."""
    from trainer.features import FeatureSpec, featurize

    rows = []
    for descriptors in ("none", "properties", "all"):
        spec = FeatureSpec(descriptors=descriptors)
        project, bare = [], []
        bare_args = (spec.morgan_radius, spec.morgan_size, descriptors)
        for _ in range(repeats):
            project.append(_seconds(lambda spec=spec: featurize(smiles, spec)))
            bare.append(_seconds(lambda bare_args=bare_args: bare_featurize(smiles, *bare_args)))
        best_project, best_bare = min(project), min(bare)
        rows.append(
            {
                "descriptors": descriptors,
                "molecules": len(smiles),
                "project_seconds": best_project,
                "bare_seconds": best_bare,
                "project_per_second": len(smiles) / best_project,
                "bare_per_second": len(smiles) / best_bare,
                "ratio": best_bare / best_project,
            }
        )
    return rows


def bare_featurize(smiles: list[str], radius: int, size: int, descriptors: str):
    import numpy as np

    chunks = [(smiles[start : start + CHUNK], radius, size, descriptors) for start in range(0, len(smiles), CHUNK)]
    with ProcessPoolExecutor(max_workers=min(os.cpu_count() or 1, len(chunks))) as pool:
        return np.vstack(list(pool.map(_bare_chunk, chunks)))


def _bare_chunk(job: tuple[list[str], int, int, str]):
    import numpy as np
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors, rdFingerprintGenerator, rdMolDescriptors

    RDLogger.DisableLog("rdApp.*")
    smiles, radius, size, descriptors = job
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=size)
    properties = rdMolDescriptors.Properties(list(rdMolDescriptors.Properties.GetAvailableProperties()))
    functions = [function for _, function in Descriptors.descList]
    out = []
    for text in smiles:
        molecule = Chem.MolFromSmiles(text)
        values = [generator.GetCountFingerprintAsNumPy(molecule).astype(float)]
        if descriptors == "properties":
            values.append(np.array(properties.ComputeProperties(molecule), dtype=float))
        elif descriptors == "all":
            values.append(np.array([_safe(function, molecule) for function in functions], dtype=float))
        out.append(np.concatenate(values))
    return np.array(out)


def _safe(function, molecule) -> float:
    try:
        return float(function(molecule))
    except (ValueError, ZeroDivisionError, OverflowError, RuntimeError):
        return float("nan")


def snapshot_hash(path: Path, repeats: int) -> dict[str, Any]:
    """MB/s of the project's snapshot hash (read and sha256) against `sha256sum` on the same file."""
    from trainer.data_file import content_hash, read_snapshot

    project, tool = [], []
    for _ in range(repeats):
        project.append(_seconds(lambda: content_hash(read_snapshot(str(path)))))
        tool.append(_seconds(lambda: subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)))
    megabytes = path.stat().st_size / 1e6
    return {
        "file_mb": megabytes,
        "project_mb_per_second": megabytes / min(project),
        "sha256sum_mb_per_second": megabytes / min(tool),
        "ratio": min(tool) / min(project),
    }


def _seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
