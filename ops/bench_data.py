"""A large molecule set for the scale bench, grown from the committed snapshots with nothing downloaded.

The parents are every parseable SMILES of `data/*.csv`; the rest are analogues, each one substituent
(methyl, halogen, hydroxy, amino, nitrile, trifluoromethyl, methoxy, carboxy) on an atom of a parent that
carries a hydrogen, then on those analogues in turn, until there are enough. The order is fixed and the set
is shuffled with a fixed seed, so every size is a prefix of the next (1k within 3k within 10k). The target is
RDKit's Crippen logP, which any molecule has.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Iterator
from pathlib import Path

SUBSTITUENTS = ("C", "F", "Cl", "O", "N", "C#N", "C(F)(F)F", "OC", "C(=O)O", "Br")
SEED = 0
TARGET = "logP"
FORMAT = "1"


def grown_snapshots(root: Path, sizes: list[int], folder: Path) -> dict[int, Path]:
    """A CSV (smiles, logP) of each size, each the first rows of the largest; made once and kept in `folder`."""
    sources = sorted((root / "data").glob("*.csv"))
    digest = hashlib.sha256(FORMAT.encode())
    for source in sources:
        digest.update(source.read_bytes())
    stem = f"molecules-{digest.hexdigest()[:12]}-{max(sizes)}"
    largest = folder / f"{stem}.csv"
    if not largest.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        _write(largest, as_csv(grow(parents(sources), max(sizes))))
    lines = largest.read_text().splitlines(keepends=True)
    paths = {}
    for size in sizes:
        paths[size] = folder / f"{stem}-first-{size}.csv"
        if not paths[size].is_file():
            _write(paths[size], "".join(lines[: size + 1]))
    return paths


def _write(path: Path, text: str) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(text)
    temp.replace(path)


def parents(sources: list[Path]) -> list[str]:
    """Canonical SMILES of every parseable molecule in the snapshots' `smiles` columns, first occurrence kept."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    seen: dict[str, None] = {}
    for source in sources:
        with source.open(newline="") as handle:
            for row in csv.DictReader(handle):
                molecule = Chem.MolFromSmiles(row.get("smiles") or "")
                if molecule is not None:
                    seen.setdefault(Chem.MolToSmiles(molecule))
    return list(seen)


def grow(seeds: list[str], count: int) -> list[str]:
    """`count` unique canonical SMILES: the seeds, then analogues generation by generation, shuffled."""
    found: dict[str, None] = dict.fromkeys(seeds)
    generation = list(found)
    while len(found) < count and generation:
        following = []
        for smiles in generation:
            for analogue in analogues(smiles):
                if analogue not in found:
                    found[analogue] = None
                    following.append(analogue)
                    if len(found) >= count:
                        break
            if len(found) >= count:
                break
        generation = following
    if len(found) < count:
        raise ValueError(f"only {len(found)} molecules can be grown from {len(seeds)} parents")
    chosen = list(found)
    random.Random(SEED).shuffle(chosen)
    return chosen[:count]


def analogues(smiles: str) -> Iterator[str]:
    """Canonical SMILES of `smiles` with one substituent on one hydrogen-bearing atom, in a fixed order."""
    from rdkit import Chem

    parent = Chem.MolFromSmiles(smiles)
    fragments = [Chem.MolFromSmiles(text) for text in SUBSTITUENTS]
    for atom in parent.GetAtoms():
        if atom.GetTotalNumHs() == 0:
            continue
        for fragment in fragments:
            combined = Chem.RWMol(Chem.CombineMols(parent, fragment))
            combined.AddBond(atom.GetIdx(), parent.GetNumAtoms(), Chem.BondType.SINGLE)
            anchor = combined.GetAtomWithIdx(atom.GetIdx())
            anchor.SetNumExplicitHs(max(0, anchor.GetNumExplicitHs() - 1))
            try:
                Chem.SanitizeMol(combined)
            except (ValueError, RuntimeError):
                continue
            text = Chem.MolToSmiles(combined)
            if Chem.MolFromSmiles(text) is not None:  # a form RDKit writes but cannot read back is no use
                yield text


def as_csv(smiles: list[str]) -> str:
    from rdkit import Chem
    from rdkit.Chem import Crippen

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["smiles", TARGET])
    writer.writerows((text, f"{Crippen.MolLogP(Chem.MolFromSmiles(text)):.4f}") for text in smiles)
    return out.getvalue()
