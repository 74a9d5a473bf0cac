"""CSV files read as text tables: the training snapshot and the molecules `invoke predict` is given.

Every cell stays a string (no NaN for an empty cell, no guessed numbers), so each caller decides what a
value means, and a refusal names the file and the column it lacks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from trainer.errors import BadInput, utf8_text

if TYPE_CHECKING:
    import pandas as pd


def read_table(raw: bytes, source: str, columns: Sequence[str]) -> pd.DataFrame:
    """The CSV in `raw` as strings; BadInput naming `source` if it is not UTF-8 CSV or lacks one of `columns`."""
    import pandas as pd

    text = utf8_text(raw, source)
    _refuse_duplicate_columns(text, source)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise BadInput(f"{source}: not a readable CSV file ({str(err).splitlines()[0]})") from err
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise BadInput(f"{source}: no column {missing[0]!r} (columns: {', '.join(frame.columns)})")
    return frame


def _refuse_duplicate_columns(text: str, source: str) -> None:
    """pandas renames a repeated header name (`logS`, `logS.1`), and the caller would use whichever it kept."""
    header = next(csv.reader(io.StringIO(text)), [])
    first: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name in first:
            where = f"columns {first[name]} and {number}"
            raise BadInput(f"{source}: column {name!r} appears twice in the header ({where})")
        first[name] = number
