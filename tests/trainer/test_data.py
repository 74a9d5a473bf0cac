"""Data: bad rows are named by line or dropped and counted; the three splits do what they promise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.config import DataConfig, RandomSplit, ScaffoldSplit
from trainer.data import load_dataset
from trainer.errors import BadInput
from trainer.splits import murcko_scaffold

ROOT = Path(__file__).resolve().parents[2]
GOOD = "smiles,logS,split\nCCO,0.5,train\nCCCO,0.1,train\nCCCCO,-0.4,train\nc1ccccc1,-1.6,test\nCC(=O)O,1.2,train\n"
BAD = (
    "smiles,logS,split\n"
    "CCO,0.5,train\n"
    "C1CC,1.0,train\n"  # line 3: ring never closed
    "CCN,,train\n"  # line 4: no target
    "CCC,abc,train\n"  # line 5: not a number
    "OCC,0.7,test\n"  # line 6: ethanol again, written the other way round
    "CCCC,inf,train\n"  # line 7: not finite
    "CCCCC,1.1,valid\n"  # line 8: unknown split
    "c1ccccc1,-1.6,test\n"
    "CCCCCCO,-1.2,train\n"
    "CC(=O)O,1.2,train\n"
)


def config(**overrides: object) -> DataConfig:
    return DataConfig.model_validate({"path": "d.csv", "target_column": "logS", **overrides})


def test_error_policy_names_every_bad_line_in_one_line() -> None:
    with pytest.raises(BadInput) as refused:
        load_dataset(BAD.encode(), config())
    message = str(refused.value)
    assert message.startswith("d.csv: 6 invalid rows: line 3: SMILES 'C1CC' does not parse; line 4: target is missing;")
    assert "line 5: target 'abc' is not a finite number" in message
    assert "line 6: duplicate of line 2" in message
    assert "line 7: target 'inf' is not a finite number" in message
    assert "(and 1 more)" in message
    assert "\n" not in message


def test_drop_policy_drops_and_records_each_bad_line() -> None:
    dataset = load_dataset(BAD.encode(), config(on_invalid="drop"))
    assert [(row.line, row.reason) for row in dataset.rejected] == [
        (3, "SMILES 'C1CC' does not parse"),
        (4, "target is missing"),
        (5, "target 'abc' is not a finite number"),
        (6, "duplicate of line 2"),
        (7, "target 'inf' is not a finite number"),
        (8, "split 'valid' is neither 'test' nor 'train'"),
    ]
    assert dataset.figures() == {
        "rows_total": 10,
        "rows_dropped": 6,
        "rows_train": 2,
        "rows_valid": 1,
        "rows_test": 1,
    }
    assert dataset.rejected_csv().splitlines()[:2] == [
        "line,smiles,reason",
        "3,C1CC,SMILES 'C1CC' does not parse",
    ]


def test_a_duplicate_across_train_and_test_keeps_only_the_first_so_nothing_leaks() -> None:
    dataset = load_dataset(BAD.encode(), config(on_invalid="drop"))
    everywhere = dataset.split.train.smiles + dataset.split.valid.smiles + dataset.split.test.smiles
    assert everywhere.count("CCO") == 1
    assert "CCO" not in dataset.split.test.smiles


def test_nothing_left_after_dropping_is_an_error() -> None:
    only_bad = "smiles,logS,split\nC1CC,1,train\nCCO,x,test\n"
    with pytest.raises(BadInput, match=r"d\.csv: no usable rows left after dropping 2 invalid rows"):
        load_dataset(only_bad.encode(), config(on_invalid="drop"))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"smiles_column": "SMILES"}, "d.csv: no column 'SMILES' (columns: smiles, logS, split)"),
        ({"target_column": "pIC50"}, "d.csv: no column 'pIC50'"),
        ({"split": {"method": "column", "column": "fold"}}, "d.csv: no column 'fold'"),
    ],
)
def test_missing_columns_are_named(overrides: dict, expected: str) -> None:
    with pytest.raises(BadInput) as refused:
        load_dataset(GOOD.encode(), config(**overrides))
    assert str(refused.value).startswith(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "d.csv: not a readable CSV file (No columns to parse from file)"),
        (b"smiles,logS,split\n", "d.csv: no rows below the header"),
        (
            b"smiles,logS,split\nCCO,0.5,train\n\xe9thanol,1,test\n",
            "d.csv: not UTF-8 text (byte 0xe9 on line 3)",
        ),
    ],
)
def test_an_empty_header_only_or_non_utf8_file_is_refused_in_one_line(raw: bytes, expected: str) -> None:
    with pytest.raises(BadInput) as refused:
        load_dataset(raw, config(on_invalid="drop"))
    assert str(refused.value) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("smiles,logS,logS,split", "d.csv: column 'logS' appears twice in the header (columns 2 and 3)"),
        ("smiles,logS,split,smiles", "d.csv: column 'smiles' appears twice in the header (columns 1 and 4)"),
    ],
)
def test_a_column_named_twice_is_refused_naming_it(header: str, expected: str) -> None:
    """pandas would keep one of the two as `logS` and rename the other `logS.1`, and train on either."""
    rows = "CCO,0.5,0.4,train\nCCCO,0.1,0.2,train\nCCCCO,-0.4,-0.3,train\nc1ccccc1,-1.6,-1.5,test\n"
    with pytest.raises(BadInput) as refused:
        load_dataset(f"{header}\n{rows}".encode(), config(on_invalid="drop"))
    assert str(refused.value) == expected


def test_a_target_column_of_text_leaves_nothing_and_names_the_lines() -> None:
    text = "smiles,logS,split\nCCO,soluble,train\nCCC,insoluble,test\n"
    with pytest.raises(BadInput) as refused:
        load_dataset(text.encode(), config())
    assert str(refused.value) == (
        "d.csv: 2 invalid rows: line 2: target 'soluble' is not a finite number; "
        "line 3: target 'insoluble' is not a finite number; set data.on_invalid: drop to drop them"
    )


def test_a_split_without_test_rows_is_refused() -> None:
    with pytest.raises(BadInput, match="split gives 5 training and 0 test rows"):
        load_dataset(GOOD.replace("test", "train").encode(), config())


def test_column_split_follows_the_file() -> None:
    dataset = load_dataset((ROOT / "data" / "solubility.csv").read_bytes(), config(on_invalid="drop"))
    figures = dataset.figures()
    assert figures["rows_total"] == 1282
    assert figures["rows_dropped"] == 8  # the 8 later copies of duplicated molecules
    assert figures["rows_test"] == 253  # 257 in the file, less 4 that repeat training molecules
    assert figures["rows_train"] + figures["rows_valid"] == 1021
    assert figures["rows_valid"] == round(1021 * 0.1)


def test_random_split_is_seeded_and_disjoint() -> None:
    raw = (ROOT / "data" / "solubility.csv").read_bytes()
    split = {"method": "random", "test_fraction": 0.2}
    first = load_dataset(raw, config(on_invalid="drop", split=split, seed=7)).split
    again = load_dataset(raw, config(on_invalid="drop", split=split, seed=7)).split
    other = load_dataset(raw, config(on_invalid="drop", split=split, seed=8)).split
    assert first.test.smiles == again.test.smiles
    assert first.test.smiles != other.test.smiles
    assert len(first.test) == round(1274 * 0.2)
    assert not set(first.test.smiles) & set(first.train.smiles + first.valid.smiles)


def test_scaffold_split_never_shares_a_scaffold_between_train_and_test() -> None:
    raw = (ROOT / "data" / "solubility.csv").read_bytes()
    dataset = load_dataset(raw, config(on_invalid="drop", split={"method": "scaffold", "test_fraction": 0.2}, seed=1))
    split = dataset.split
    train_scaffolds = {murcko_scaffold(s) for s in split.train.smiles + split.valid.smiles}
    test_scaffolds = {murcko_scaffold(s) for s in split.test.smiles}
    assert not train_scaffolds & test_scaffolds
    assert "" in train_scaffolds  # the acyclic molecules form one large group, kept for training
    assert abs(len(split.test) - round(1274 * 0.2)) < 30
    assert isinstance(config(split={"method": "scaffold"}).split, ScaffoldSplit)
    assert isinstance(config(split={"method": "random"}).split, RandomSplit)


def test_parts_keep_their_file_lines() -> None:
    dataset = load_dataset(GOOD.encode(), config())
    part = dataset.split.test
    assert part.smiles == ["c1ccccc1"]
    assert part.lines.tolist() == [5]
    np.testing.assert_allclose(part.y, [-1.6])


def test_a_predict_input_with_a_column_named_twice_is_refused_too() -> None:
    """The snapshot and `invoke predict`'s input share one CSV read."""
    from trainer.table import read_table

    with pytest.raises(BadInput) as refused:
        read_table(b"smiles,name,smiles\nCCO,ethanol,CCC\n", "--input m.csv", ["smiles"])
    assert str(refused.value) == "--input m.csv: column 'smiles' appears twice in the header (columns 1 and 3)"
