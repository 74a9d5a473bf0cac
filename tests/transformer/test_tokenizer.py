"""The SMILES tokeniser: every snapshot SMILES round-trips, tricky ones split right, the rest is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.data import Part, SplitData
from trainer.errors import BadInput
from trainer.models.transformer import UNK, Vocabulary, tokenize, train


def test_every_snapshot_smiles_tokenises_back_to_itself(project_root: Path, snapshot) -> None:
    raw = pd.read_csv(project_root / "data" / "solubility.csv")["smiles"].tolist()
    canonical = [
        text for part in (snapshot.split.train, snapshot.split.valid, snapshot.split.test) for text in part.smiles
    ]
    for text in raw + canonical:
        tokens = tokenize(text)
        assert tokens is not None, text
        assert "".join(tokens) == text


@pytest.mark.parametrize(
    ("smiles", "tokens"),
    [
        ("BrCCCl", ["Br", "C", "C", "Cl"]),
        ("CBr.ClC", ["C", "Br", ".", "Cl", "C"]),
        ("C[NH3+].[O-]C(=O)C", ["C", "[NH3+]", ".", "[O-]", "C", "(", "=", "O", ")", "C"]),
        ("[13CH3][C@@H](N)C(=O)O", ["[13CH3]", "[C@@H]", "(", "N", ")", "C", "(", "=", "O", ")", "O"]),
        ("C%10CCCCC%10", ["C", "%10", "C", "C", "C", "C", "C", "%10"]),
        ("F/C=C\\F", ["F", "/", "C", "=", "C", "\\", "F"]),
        ("c1ccc2[nH]ccc2c1", ["c", "1", "c", "c", "c", "2", "[nH]", "c", "c", "c", "2", "c", "1"]),
        ("[Na+].[Cl-]", ["[Na+]", ".", "[Cl-]"]),
        ("N#Cc1cc(Br)sc1", ["N", "#", "C", "c", "1", "c", "c", "(", "Br", ")", "s", "c", "1"]),
    ],
)
def test_tricky_smiles_split_into_the_expected_tokens(smiles: str, tokens: list[str]) -> None:
    assert tokenize(smiles) == tokens


@pytest.mark.parametrize("smiles", ["C%(100)CC%(100)", "CCX", "C C", "c1ccccc1 benzene"])
def test_a_smiles_the_pattern_does_not_cover_is_refused(smiles: str) -> None:
    assert tokenize(smiles) is None


def with_inserted_row(part: Part, smiles: str, line: int) -> Part:
    return Part(
        smiles=[*part.smiles[:5], smiles, *part.smiles[5:]],
        y=np.concatenate([part.y[:5], [0.0], part.y[5:]]),
        lines=np.concatenate([part.lines[:5], [line], part.lines[5:]]),
    )


@pytest.mark.parametrize("where", ["train", "valid", "test"])
def test_training_refuses_an_untokenisable_smiles_in_any_part_naming_its_line(
    small_split: SplitData, tiny_params, where: str
) -> None:
    parts = {name: getattr(small_split, name) for name in ("train", "valid", "test")}
    parts[where] = with_inserted_row(parts[where], "C%(100)CC%(100)", 4242)
    with pytest.raises(BadInput, match=r"^line 4242: SMILES 'C%\(100\)CC%\(100\)' does not tokenise") as refusal:
        train(tiny_params(), SplitData(**parts), 0, print)
    assert str(refusal.value).endswith("(no token matches '%' at character 2)")


def test_vocabulary_maps_unseen_tokens_to_unk_and_can_prepend_cls() -> None:
    vocabulary = Vocabulary.build([["C", "O"], ["C", "N"]])
    unknown = vocabulary.tokens.index(UNK)
    ids = vocabulary.encode(["C", "[Na+]", "O"], with_cls=False)
    assert ids.tolist() == [vocabulary.tokens.index("C"), unknown, vocabulary.tokens.index("O")]
    assert len(vocabulary.encode(["C"], with_cls=True)) == 2
    assert len(vocabulary) == 3 + 3
