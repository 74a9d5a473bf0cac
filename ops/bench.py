"""`invoke bench`: the figures the README quotes, measured on this machine.

- quality, uncertainty and training time of every committed config (every endpoint), trained from scratch into a
  throw-away store: test RMSE of the served ensemble and mean ± sd over its replicates, coverage of the 90%
  interval, Spearman between |error| and std, RMSE in and out of the applicability domain;
- the skip path (`invoke train` with nothing to train) against `python -c "import mlflow"`, interleaved;
- featurisation throughput on 10,000 molecules.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainer.pipeline import Outcome

FEATURISED_MOLECULES = 10_000
# The throw-away store is bench's own, so nothing else holds its lock; this is `invoke train`'s default wait.
LOCK_TIMEOUT = 3600.0


def run(root: Path, repeats: int) -> str:
    """Markdown tables of every figure."""
    with tempfile.TemporaryDirectory(prefix="ai-drug-bench-") as store:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db", "MLFLOW_DISABLE_TELEMETRY": "true"}
        train = [sys.executable, "-m", "invoke", "train"]
        quality = [q for q in _train_every_config(root, env["MLFLOW_TRACKING_URI"]) if q.action == "trained"]
        quality_rows = _quality(env["MLFLOW_TRACKING_URI"], quality, root / ".bench")
        skip, baseline = [], []
        for _ in range(repeats):
            skip.append(_seconds(train, root, env))
            baseline.append(_seconds([sys.executable, "-c", "import mlflow"], root, env))
    lines = [
        *quality_rows,
        "",
        f"| command (median of {repeats}, interleaved) | wall time |",
        "|---|---|",
        f"| `invoke train`, every config skipped | {statistics.median(skip):.2f} s |",
        f'| `python -c "import mlflow"` | {statistics.median(baseline):.2f} s |',
        f"| ratio | {statistics.median(skip) / statistics.median(baseline):.2f}x |",
        "",
        *_featurisation(root),
    ]
    return "\n".join(lines)


def _quality(uri: str, trained: list[Outcome], plots: Path) -> list[str]:
    """One row per trained config, its figures read back from the run; its parity plot copied into `plots`."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    rows = [
        "| config | replicates | test RMSE (ensemble) | mean ± sd over replicates | 90% coverage"
        " | Spearman(abs error, std) | RMSE in / out of domain (share in) | wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for item in trained:
        run = client.get_run(item.run_id)
        m, unit = run.data.metrics, run.data.tags.get("endpoint_unit", "")
        plots.mkdir(exist_ok=True)
        name = f"parity-{run.data.tags['endpoint']}-{run.data.tags['model_family']}.png"
        downloaded = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            artifact_path="plots/parity_test.png",
            dst_path=str(plots / "download"),
            tracking_uri=uri,
        )
        Path(downloaded).replace(plots / name)
        rows.append(
            f"| {item.path} | {run.data.params.get('replicates', '1')} | {m['test_rmse']:.3f} {unit}"
            f" | {m['test_rmse_mean']:.3f} ± {m['test_rmse_sd']:.3f} | {m['test_interval_coverage']:.2f}"
            f" | {m['test_spearman_error_std']:.2f} | {m['test_rmse_in_domain']:.3f} / {m['test_rmse_out_domain']:.3f}"
            f" ({m['test_in_domain_fraction']:.0%}) | {item.seconds:.1f} s |"
        )
    total = sum(item.seconds for item in trained)
    return [*rows, f"| all {len(trained)} configs | | | | | | | {total:.0f} s |"]


def _train_every_config(root: Path, uri: str) -> list[Outcome]:
    """Every committed config through the training pipeline into the store at `uri`, as `invoke train` runs it."""
    from trainer.pipeline import prepare, skip_or_train
    from trainer.tracking import Store, quiet_mlflow

    quiet_mlflow()
    with contextlib.chdir(root):
        prepared = [prepare(path) for path in sorted(Path("configs").rglob("*.yaml"))]
        return [skip_or_train(item, Store(uri, item.config.experiment), LOCK_TIMEOUT, _say) for item in prepared]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _seconds(command: list[str], root: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=root, env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def _featurisation(root: Path) -> list[str]:
    import csv

    from trainer.features import FeatureSpec, featurize

    with (root / "data" / "solubility.csv").open() as handle:
        smiles = [row["smiles"] for row in csv.DictReader(handle)]
    batch = (smiles * (FEATURISED_MOLECULES // len(smiles) + 1))[:FEATURISED_MOLECULES]
    rows = [
        f"| features ({FEATURISED_MOLECULES:,} molecules, {os.cpu_count()} cores) | wall time | molecules/s |",
        "|---|---|---|",
    ]
    for descriptors in ("none", "properties", "all"):
        spec = FeatureSpec(descriptors=descriptors)
        started = time.perf_counter()
        featurize(batch, spec)
        elapsed = time.perf_counter() - started
        rows.append(
            f"| Morgan counts 2048 + descriptors `{descriptors}` | {elapsed:.1f} s | {len(batch) / elapsed:,.0f} |"
        )
    return rows
