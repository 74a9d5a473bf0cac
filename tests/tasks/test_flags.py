"""invoke's own flag parsing keeps the contract: a bad flag is one `error:` line, exit 2, and nothing runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, store: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["train", "--explian"], "error: '--explian': no such flag or task (see invoke --list)"),
        (["train", "--config"], "error: --config: needs a value"),
        (["train", "--config", "--explain"], "error: --config: needs a value"),
        (["train", "-c"], "error: --config: needs a value"),
        (["dispatch", "--sha", "abc1234", "--config"], "error: --config: needs a value"),
        (["predict", "--model"], "error: --model: needs a value"),
        (["ui", "--port", "abc"], "error: --port: 'abc' is not a whole number"),
        (["ui", "--port=8x"], "error: --port: '8x' is not a whole number"),
        (["bench", "--repeats", "abc"], "error: --repeats: 'abc' is not a whole number"),
        (["train", "--config", "xgb"], "error: --config xgb: no such file; did you mean configs/xgb.yaml?"),
        (["train", "--config", "configs"], "error: --config configs: is a folder; name a config file in it"),
    ],
)
def test_a_bad_flag_is_one_line_exit_2_and_nothing_runs(tmp_path: Path, args: list[str], line: str) -> None:
    store = tmp_path / "store"
    result = invoke(*args, store=store)
    assert (result.returncode, result.stderr.splitlines(), result.stdout) == (2, [line], "")
    assert not store.exists(), "a refused command created the store"
