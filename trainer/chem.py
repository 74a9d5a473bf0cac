"""SMILES to RDKit molecules, quietly: a SMILES that does not parse is None, never a line on stderr.

RDKit is imported, and its parse warnings silenced, on the first call, so importing this costs nothing.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdkit.Chem import Mol


def molecule(text: Any) -> Mol | None:
    """The molecule of a SMILES string; None for one that does not parse, an empty string or a non-string."""
    if not isinstance(text, str) or not text:
        return None
    return _rdkit().MolFromSmiles(text)


def canonical_smiles(text: Any) -> str | None:
    """RDKit's canonical SMILES of `text`, or None where `molecule` gives None."""
    found = molecule(text)
    return None if found is None else _rdkit().MolToSmiles(found)


@cache
def _rdkit():
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return Chem
