"""CSV files read as text tables: the training snapshot and the molecules `invoke predict` is given.

Every cell stays a string (no NaN for an empty cell, no guessed numbers), so each caller decides what a
value means, and a refusal names the file and the column it lacks.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from trainer.errors import BadInput, utf8_text

if TYPE_CHECKING:
    import pandas as pd


def read_table(raw: bytes, source: str, columns: Sequence[str]) -> pd.DataFrame:
    """The CSV in `raw` as strings; BadInput naming `source` if it is not UTF-8 CSV or lacks one of `columns`."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(utf8_text(raw, source)), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise BadInput(f"{source}: not a readable CSV file ({str(err).splitlines()[0]})") from err
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise BadInput(f"{source}: no column {missing[0]!r} (columns: {', '.join(frame.columns)})")
    return frame
