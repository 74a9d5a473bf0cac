"""Turn a snapshot's bytes into validated train, validation and test parts.

Every row that cannot be used is named by its line in the file: an unparseable SMILES, a missing,
non-numeric or non-finite target, an unknown split value, or a molecule already seen on an earlier
line (compared by canonical SMILES, so a duplicate cannot leak from the training into the test part).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from trainer.chem import canonical_smiles
from trainer.config import ColumnSplit, DataConfig, ScaffoldSplit
from trainer.errors import BadInput
from trainer.splits import random_split, scaffold_split
from trainer.table import read_table

HEADER_LINES = 1
SHOWN_PROBLEMS = 5


@dataclass(frozen=True)
class Part:
    """Canonical SMILES and targets of one part, with the file line each came from."""

    smiles: list[str]
    y: np.ndarray
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.smiles)


@dataclass(frozen=True)
class SplitData:
    train: Part
    valid: Part
    test: Part


@dataclass(frozen=True)
class RejectedRow:
    line: int
    smiles: str
    reason: str


@dataclass(frozen=True)
class Dataset:
    split: SplitData
    rows: int
    rejected: list[RejectedRow]

    def figures(self) -> dict[str, int]:
        return {
            "rows_total": self.rows,
            "rows_dropped": len(self.rejected),
            "rows_train": len(self.split.train),
            "rows_valid": len(self.split.valid),
            "rows_test": len(self.split.test),
        }

    def rejected_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["line", "smiles", "reason"])
        writer.writerows((row.line, row.smiles, row.reason) for row in self.rejected)
        return out.getvalue()


def load_dataset(raw: bytes, config: DataConfig) -> Dataset:
    """Parse, validate and split; refuses or drops bad rows as `config.on_invalid` says."""
    source = config.path
    split_column = config.split.column if isinstance(config.split, ColumnSplit) else None
    needed = [config.smiles_column, config.target_column] + ([split_column] if split_column else [])
    frame = read_table(raw, source, needed)
    if frame.empty:
        raise BadInput(f"{source}: no rows below the header")

    smiles, targets, sides, rejected = _validate_rows(frame, config, split_column)
    if rejected and config.on_invalid == "error":
        shown = "; ".join(f"line {row.line}: {row.reason}" for row in rejected[:SHOWN_PROBLEMS])
        more = f" (and {len(rejected) - SHOWN_PROBLEMS} more)" if len(rejected) > SHOWN_PROBLEMS else ""
        raise BadInput(f"{source}: {len(rejected)} invalid rows: {shown}{more}; set data.on_invalid: drop to drop them")
    if not smiles:
        raise BadInput(f"{source}: no usable rows left after dropping {len(rejected)} invalid rows")
    split = _split(list(smiles), np.array(targets), np.array(list(smiles.values())), sides, config)
    return Dataset(split=split, rows=len(frame), rejected=rejected)


def _validate_rows(
    frame, config: DataConfig, split_column: str | None
) -> tuple[dict[str, int], list[float], list[str], list[RejectedRow]]:
    """Canonical SMILES -> first line, targets and split sides of the kept rows, and the rejected rows."""
    allowed_sides = {config.split.train_value, config.split.test_value} if split_column else set()
    kept: dict[str, int] = {}
    targets: list[float] = []
    sides: list[str] = []
    rejected: list[RejectedRow] = []
    columns = [config.smiles_column, config.target_column] + ([split_column] if split_column else [])
    for offset, values in enumerate(frame[columns].itertuples(index=False, name=None)):
        line = offset + HEADER_LINES + 1
        text, target_text = values[0].strip(), values[1].strip()
        side = values[2] if split_column else ""
        canonical = canonical_smiles(text)
        target = _as_number(target_text)
        if canonical is None:
            reason = f"SMILES {text!r} does not parse" if text else "SMILES is empty"
        elif target is None:
            reason = f"target {target_text!r} is not a finite number" if target_text else "target is missing"
        elif split_column and side not in allowed_sides:
            reason = f"{split_column} {side!r} is neither {' nor '.join(map(repr, sorted(allowed_sides)))}"
        elif canonical in kept:
            reason = f"duplicate of line {kept[canonical]}"
        else:
            kept[canonical] = line
            targets.append(target)
            sides.append(side)
            continue
        rejected.append(RejectedRow(line=line, smiles=text, reason=reason))
    return kept, targets, sides, rejected


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _split(smiles: list[str], y: np.ndarray, lines: np.ndarray, sides: list[str], config: DataConfig) -> SplitData:
    everything = np.arange(len(smiles))
    method = config.split
    if isinstance(method, ColumnSplit):
        side_array = np.array(sides)
        train, test = (
            everything[side_array == method.train_value],
            everything[side_array == method.test_value],
        )
    elif isinstance(method, ScaffoldSplit):
        train, test = scaffold_split(everything, smiles, method.test_fraction, config.seed)
    else:
        train, test = random_split(everything, method.test_fraction, config.seed)
    if len(train) < 2 or len(test) < 1:
        raise BadInput(
            f"{config.path}: split gives {len(train)} training and {len(test)} test rows; need at least 2 and 1"
        )
    if isinstance(method, ScaffoldSplit):
        train, valid = scaffold_split(train, smiles, config.validation_fraction, config.seed)
    else:
        train, valid = random_split(train, config.validation_fraction, config.seed)

    def part(indices: np.ndarray) -> Part:
        return Part(smiles=[smiles[i] for i in indices], y=y[indices], lines=lines[indices])

    return SplitData(train=part(train), valid=part(valid), test=part(test))
