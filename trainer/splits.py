"""Train/test and train/validation splits: by a column, at random, or by Bemis-Murcko scaffold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def random_split(indices: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out): `fraction` of `indices`, at least one, held out at random."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(indices)
    n_out = _held_out_size(len(indices), fraction)
    return np.sort(shuffled[n_out:]), np.sort(shuffled[:n_out])


def scaffold_split(
    indices: np.ndarray, smiles: Sequence[str], fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) with whole scaffold groups held out, so held-out chemotypes are unseen.

    Groups larger than half the held-out size always stay in the kept part; this is where the acyclic
    molecules land, since they all share the empty scaffold. The remaining groups are shuffled with
    `seed` and held out in turn until the held-out part reaches its size.
    """
    groups: dict[str, list[int]] = {}
    for index in indices:
        groups.setdefault(murcko_scaffold(smiles[index]), []).append(int(index))
    target = _held_out_size(len(indices), fraction)
    small = [members for members in groups.values() if len(members) <= target / 2]
    order = np.random.default_rng(seed).permutation(len(small))
    held_out: list[int] = []
    for position in order:
        if len(held_out) >= target:
            break
        held_out.extend(small[position])
    held = np.array(sorted(held_out), dtype=int)
    kept = np.setdiff1d(indices, held)
    return kept, held


def murcko_scaffold(smiles: str) -> str:
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(smiles=smiles, includeChirality=False)


def _held_out_size(n: int, fraction: float) -> int:
    return min(max(1, round(n * fraction)), n - 1)
