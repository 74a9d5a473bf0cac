"""RDKit features for the tabular families: Morgan count fingerprints and 2D descriptors.

A SMILES that does not parse gives a row of NaN, so callers can predict on everything they are handed
and report the failures. Large batches are spread over processes: the descriptors cost ~2 ms a molecule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from trainer import feature_cache
from trainer.chem import molecule
from trainer.cpus import allowed_cpus
from trainer.strict import Strict

# Trees (and scikit-learn's float32 conversion) need finite values below float32's limit.
VALUE_LIMIT = 1e30
PARALLEL_FROM = 2000
CHUNK = 500


class FeatureSpec(Strict):
    """Which features; part of a tabular family's params and so of the config hash."""

    morgan_radius: int = Field(2, ge=1, le=6)
    morgan_size: int = Field(2048, ge=0, le=16384, description="Fingerprint length; 0 leaves fingerprints out.")
    descriptors: Literal["all", "properties", "none"] = Field(
        "all", description="all: RDKit's ~217 2D descriptors; properties: its 43 fast C++ ones; none."
    )

    @model_validator(mode="after")
    def _some_features(self) -> FeatureSpec:
        if self.morgan_size == 0 and self.descriptors == "none":
            raise ValueError("morgan_size 0 and descriptors none leave no features")
        return self


def featurize(smiles: Sequence[str], spec: FeatureSpec) -> np.ndarray:
    """A float64 matrix, one row per SMILES, NaN rows for SMILES that do not parse."""
    if stored := feature_cache.current():
        compute = lambda: _featurize(smiles, spec)  # noqa: E731
        return stored.get_or_compute(smiles, spec.model_dump_json(), featuriser_code(), compute)
    return _featurize(smiles, spec)


@cache
def featuriser_code() -> str:
    """What the features depend on besides molecules and spec: this module's bytes and the libraries it calls."""
    import rdkit

    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return f"{source} rdkit {rdkit.__version__} numpy {np.__version__}"


def _featurize(smiles: Sequence[str], spec: FeatureSpec) -> np.ndarray:
    workers = min(allowed_cpus(), len(smiles) // CHUNK + 1)
    if len(smiles) < PARALLEL_FROM or workers < 2:
        return _featurize_chunk(list(smiles), spec)
    chunks = [list(smiles[start : start + CHUNK]) for start in range(0, len(smiles), CHUNK)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return np.vstack(list(pool.map(_featurize_chunk, chunks, [spec] * len(chunks))))


def feature_names(spec: FeatureSpec) -> list[str]:
    morgan = [f"morgan_{i}" for i in range(spec.morgan_size)]
    return morgan + list(_descriptor_names(spec.descriptors))


def _featurize_chunk(smiles: list[str], spec: FeatureSpec) -> np.ndarray:
    width = len(feature_names(spec))
    matrix = np.full((len(smiles), width), np.nan)
    generator = _morgan_generator(spec.morgan_radius, spec.morgan_size) if spec.morgan_size else None
    for row, text in enumerate(smiles):
        parsed = molecule(text)
        if parsed is None:
            continue
        values = []
        if generator is not None:
            values.append(generator.GetCountFingerprintAsNumPy(parsed).astype(float))
        if spec.descriptors != "none":
            values.append(_descriptor_vector(parsed, spec.descriptors))
        matrix[row] = np.concatenate(values) if values else []
    descriptor_block = matrix[:, spec.morgan_size :]
    descriptor_block[~np.isfinite(descriptor_block) & ~np.isnan(descriptor_block)] = np.nan
    np.clip(descriptor_block, -VALUE_LIMIT, VALUE_LIMIT, out=descriptor_block)
    return matrix


def _safe(function, molecule) -> float:
    try:
        return float(function(molecule))
    except (ValueError, ZeroDivisionError, OverflowError, RuntimeError):
        return np.nan


@cache
def _morgan_generator(radius: int, size: int):
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=size)


@cache
def _descriptor_names(which: str) -> tuple[str, ...]:
    if which == "none":
        return ()
    if which == "properties":
        from rdkit.Chem import rdMolDescriptors

        return tuple(rdMolDescriptors.Properties.GetAvailableProperties())
    from rdkit.Chem import Descriptors

    return tuple(name for name, _ in Descriptors.descList)


def _descriptor_vector(molecule, which: str) -> np.ndarray:
    if which == "properties":
        return np.array(_properties_calculator().ComputeProperties(molecule), dtype=float)
    return np.array([_safe(function, molecule) for function in _descriptor_functions()], dtype=float)


@cache
def _properties_calculator():
    from rdkit.Chem import rdMolDescriptors

    return rdMolDescriptors.Properties(list(_descriptor_names("properties")))


@cache
def _descriptor_functions() -> tuple:
    from rdkit.Chem import Descriptors

    return tuple(function for _, function in Descriptors.descList)
