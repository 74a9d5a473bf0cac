"""`invoke bench`: how cost grows with the data and how close each step is to its limit, measured here.

Every timing is a ratio to something measured in the same invocation:

- scale: hash, load, featurise, fit and log of RF and XGBoost at growing sizes of a set grown from the
  committed snapshots (ops/bench_data.py), one process per size (ops/bench_scale.py), with the log-log slope
  of each step's time and peak RSS; the feature cache's hit against its miss at each size;
- featurisation against a bare RDKit loop, and the snapshot hash against `sha256sum` (ops/bench_limits.py);
- the skip path (`invoke train` with nothing to train) against `python -c "import mlflow"`, interleaved, on
  SQLite and against a real `mlflow server` on 127.0.0.1 over the same store;
- quality, wall time and peak RSS of every committed config (configs/**/*.yaml), trained from scratch into a
  throw-away store, and the transformer's epochs per second.

It writes `<out>/bench/results.json`, `<out>/bench/tables.md`, the figures in `<out>/docs/`, and the tables
into `<out>/README.md` between the bench markers. `--quick` runs the same code on small sizes and shortened
configs, into .bench/quick unless told otherwise.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from ops import bench_data, bench_limits, bench_plots, bench_report
from ops.mlflow_server import mlflow_server
from trainer.errors import BadInput

SCALE_FAMILIES = ("rf", "xgb")


@dataclass(frozen=True)
class Plan:
    """How big each part of the bench is."""

    sizes: tuple[int, ...]
    repeats: int
    featurise_rows: int
    hash_mb: int
    scale_budget_seconds: float
    scale_model: dict[str, dict[str, Any]]
    quick: bool = False
    epoch_cap: int | None = None


FULL = Plan(
    sizes=(1_000, 3_000, 10_000, 30_000, 100_000),
    repeats=5,
    featurise_rows=5_000,
    hash_mb=256,
    scale_budget_seconds=2400,
    scale_model={"rf": {"n_estimators": 50}, "xgb": {"n_estimators": 300, "early_stopping_rounds": 30}},
)
# A quick run computes RDKit's 43 fast descriptors where the full one computes all ~217 (140 molecules/s).
QUICK_FEATURES = {"descriptors": "properties"}
QUICK = Plan(
    sizes=(250, 500, 1_000),
    repeats=2,
    featurise_rows=300,
    hash_mb=16,
    scale_budget_seconds=600,
    scale_model={
        "rf": {"n_estimators": 10, "features": QUICK_FEATURES},
        "xgb": {"n_estimators": 30, "early_stopping_rounds": 5, "features": QUICK_FEATURES},
    },
    quick=True,
)
# A quick run trains every committed config on a quarter of its data with these caps, where the family has them.
QUICK_MODEL = {"n_estimators": 20, "early_stopping_rounds": 5, "epochs": 2, "patience": 1, "warmup_epochs": 0,
               "augment": 2, "tta": 1, "features": QUICK_FEATURES}  # fmt: skip
QUICK_DATA_EVERY = 4
QUICK_REPLICATES = 2  # enough for the ensemble, its spread and the replicates' sd
COPIES = "bench-configs"


def run(
    root: Path, out: Path, quick: bool = False, repeats: int | None = None, epoch_cap: int | None = None
) -> dict[str, Any]:
    """Measure everything, write results.json, tables, figures and the README section; return the results.

    results.json is rewritten after each section, so a bench stopped part-way still leaves what it measured.
    """
    plan = QUICK if quick else FULL
    for flag, value in (("--repeats", repeats), ("--epoch-cap", epoch_cap)):
        if value is not None and value < 1:
            raise BadInput(f"{flag}: {value} is not a whole number >= 1")
    changes = {"repeats": repeats, "epoch_cap": epoch_cap}
    plan = Plan(**{**asdict(plan), **{name: value for name, value in changes.items() if value is not None}})
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # for the parity plots' downloads too
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(root)}
    results: dict[str, Any] = {"machine": _machine(plan)}
    with tempfile.TemporaryDirectory(prefix="ai-drug-bench-") as work_text:
        work = Path(work_text)
        configs = _configs(root, work, plan)
        store = work / "store"
        results["training"] = _training(root, configs, store, env)
        bench_report.save(results, out)
        results["skip"] = _skip(root, configs, store, env, plan.repeats)
        bench_report.save(results, out)
        snapshots = bench_data.grown_snapshots(root, list(plan.sizes), root / ".bench" / "molecules")
        results["scale"] = _scale(root, configs, snapshots, work, env, plan)
        largest = max(size["rows"] for size in results["scale"]["sizes"])
        results["cache"] = _cache(results["scale"], largest)
        bench_report.save(results, out)
        molecules = _smiles(snapshots[max(plan.sizes)])[: plan.featurise_rows]
        results["featurisation"] = bench_limits.featurisation(molecules, min(plan.repeats, 2))
        results["hash"] = bench_limits.snapshot_hash(_hash_file(snapshots[max(plan.sizes)], work, plan.hash_mb), 3)
    figures = [*bench_plots.draw_all(results, out / "docs"), *_parity_pictures(results["training"], out / "docs")]
    bench_report.write(results, out, [path.relative_to(out) for path in figures])
    return results


def _parity_pictures(training: list[dict[str, Any]], docs: Path) -> list[Path]:
    """Per endpoint, the parity plot of its best config (lowest ensemble test RMSE), as docs/parity-<endpoint>.png."""
    best: dict[str, dict[str, Any]] = {}
    for row in training:
        if row["endpoint"] not in best or row["test_rmse"] < best[row["endpoint"]]["test_rmse"]:
            best[row["endpoint"]] = row
    docs.mkdir(parents=True, exist_ok=True)
    pictures = []
    for endpoint, row in sorted(best.items()):
        picture = docs / f"parity-{endpoint}.png"
        shutil.copyfile(row["parity_plot"], picture)
        pictures.append(picture)
    return pictures


def _machine(plan: Plan) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "quick": plan.quick,
        "sizes": list(plan.sizes),
        "repeats": plan.repeats,
        "epoch_cap": plan.epoch_cap,
    }


def _configs(root: Path, work: Path, plan: Plan) -> list[Path]:
    """The committed configs, searched recursively; for a quick run, shortened copies on part of their data, and
    with an epoch cap, copies trained for at most that many epochs."""
    committed = sorted((root / "configs").rglob("*.yaml"))
    caps = dict(QUICK_MODEL) if plan.quick else {}
    if plan.epoch_cap:
        caps["epochs"] = min(caps.get("epochs", plan.epoch_cap), plan.epoch_cap)
    if not caps:
        return committed
    from trainer.models import load_family

    copies = []
    for path in committed:
        document = yaml.safe_load(path.read_text())
        if plan.quick:
            document["replicates"] = min(document.get("replicates", 1), QUICK_REPLICATES)
            data = document["data"]
            source = Path(data["path"]) if Path(data["path"]).is_absolute() else root / data["path"]
            lines = source.read_text().splitlines(keepends=True)
            part = work / "quick-data" / path.relative_to(root / "configs").with_suffix(".csv")
            part.parent.mkdir(parents=True, exist_ok=True)
            part.write_text("".join([lines[0], *lines[1::QUICK_DATA_EVERY]]))
            data["path"] = str(part)
        fields = load_family(document["model"]["family"]).Params.model_fields
        document["model"].update({key: value for key, value in caps.items() if key in fields})
        copy = work / COPIES / path.relative_to(root / "configs")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(yaml.safe_dump(document, sort_keys=False))
        copies.append(copy)
    return copies


def _training(root: Path, configs: list[Path], store: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """Each config trained from scratch in its own process: wall time, peak RSS, and what its run recorded."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{store}/mlflow.db"
    results = []
    for config in configs:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "trainer", "--config", str(config)],
            cwd=root,
            env={**env, "MLFLOW_TRACKING_URI": uri, "TRAINER_FEATURE_CACHE": "off"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        stderr = process.stderr.read().decode() if process.stderr else ""
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"{config}: training failed with {process.returncode}: {stderr.strip()[-500:]}")
        run = MlflowClient(uri).search_runs(
            [experiment.experiment_id for experiment in MlflowClient(uri).search_experiments()],
            f"tags.config_file = '{config}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )[0]
        tags, metrics = run.data.tags, run.data.metrics
        epochs, fit_seconds = _total(tags.get("fit.epochs_run")), _total(tags.get("fit.fit_seconds"))
        results.append(
            {
                "config": _shown(config, root),
                "family": tags["model_family"],
                "endpoint": tags.get("endpoint", "?"),
                "unit": tags.get("endpoint_unit", ""),
                "replicates": int(run.data.params.get("replicates", "1")),
                "seconds": seconds,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "epochs_per_second": epochs / fit_seconds if epochs and fit_seconds else None,
                "parity_plot": _parity_plot(uri, run.info.run_id, tags, root / ".bench"),
                **{name: metrics.get(name) for name in QUALITY_METRICS},
            }
        )
    return results


# What each run records of its quality and uncertainty (trainer/evaluation.py), as the bench reports it.
QUALITY_METRICS = (
    "test_rmse",
    "test_rmse_mean",
    "test_rmse_sd",
    "test_interval_coverage",
    "test_spearman_error_std",
    "test_rmse_in_domain",
    "test_rmse_out_domain",
    "test_in_domain_fraction",
)


def _total(facts: str | None) -> float:
    """A fit fact summed over the replicates (one value, or one per replicate separated by commas)."""
    return sum(float(value) for value in facts.split(",")) if facts else 0.0


def _parity_plot(uri: str, run_id: str, tags: dict[str, str], folder: Path) -> str:
    """The run's parity plot, copied into `folder` as parity-<endpoint>-<family>.png; its path."""
    import mlflow

    folder.mkdir(parents=True, exist_ok=True)
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="plots/parity_test.png", dst_path=str(folder / "download"), tracking_uri=uri
    )
    target = folder / f"parity-{tags.get('endpoint', 'unknown')}-{tags['model_family']}.png"
    Path(downloaded).replace(target)
    return str(target)


def _shown(path: Path, root: Path) -> str:
    """A config as the README names it: its place under configs/ (a quick copy is named after its original)."""
    parts = path.parts
    return str(Path("configs", *parts[parts.index(COPIES) + 1 :])) if COPIES in parts else str(path.relative_to(root))


def _skip(root: Path, configs: list[Path], store: Path, env: dict[str, str], repeats: int) -> dict[str, Any]:
    """`invoke train` with every config already trained, against `import mlflow`, on SQLite and on a server."""
    train = [sys.executable, "-m", "invoke", "train", *(f"--config={config}" for config in configs)]
    baseline = [sys.executable, "-c", "import mlflow"]
    sqlite_env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}
    results = {"sqlite": _interleaved(train, baseline, root, sqlite_env, repeats)}
    with mlflow_server(f"sqlite:///{store}/mlflow.db", store / "server") as url:
        results["server"] = _interleaved(train, baseline, root, {**env, "MLFLOW_TRACKING_URI": url}, repeats)
    return results


def _interleaved(command: list[str], baseline: list[str], root: Path, env: dict[str, str], repeats: int) -> dict:
    times: dict[str, list[float]] = {"skip": [], "import_mlflow": []}
    for _ in range(repeats):
        for name, argv in (("skip", command), ("import_mlflow", baseline)):
            started = time.perf_counter()
            result = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
            times[name].append(time.perf_counter() - started)
            if result.returncode != 0 or (name == "skip" and "trained" in result.stdout):
                raise RuntimeError(f"{' '.join(argv[:4])}: did not skip ({result.returncode}): {result.stderr[-500:]}")
    skip, base = statistics.median(times["skip"]), statistics.median(times["import_mlflow"])
    return {"skip_seconds": skip, "import_mlflow_seconds": base, "ratio": skip / base, "repeats": repeats}


def _scale(
    root: Path, configs: list[Path], snapshots: dict[int, Path], work: Path, env: dict[str, str], plan: Plan
) -> dict[str, Any]:
    """One process per size, smallest first; a size whose predicted time would pass the budget is left out."""
    family_configs = _scale_configs(configs, snapshots, work, plan)
    sizes, left_out, spent = [], [], 0.0
    for size in sorted(snapshots):
        predicted = _predicted_seconds(sizes, size)
        if sizes and spent + predicted > plan.scale_budget_seconds:
            left_out.append({"rows": size, "predicted_seconds": predicted, "budget_seconds": plan.scale_budget_seconds})
            continue
        plan_file, result_file = work / f"scale-{size}.json", work / f"scale-{size}-result.json"
        plan_file.write_text(
            json.dumps(
                {
                    "configs": {family: str(paths[size]) for family, paths in family_configs.items()},
                    "store": str(work / f"scale-store-{size}"),
                    "cache": str(work / f"scale-cache-{size}"),
                }
            )
        )
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "ops.bench_scale", str(plan_file), str(result_file)], cwd=root, env=env, check=True
        )
        elapsed = time.perf_counter() - started
        spent += elapsed
        shutil.rmtree(work / f"scale-cache-{size}", ignore_errors=True)
        sizes.append({**json.loads(result_file.read_text()), "size": size, "process_seconds": elapsed})
    steps = list(sizes[0]["steps"])
    rows = [size["rows"] for size in sizes]
    return {
        "sizes": sizes,
        "left_out": left_out,
        "slopes": {name: slope(rows, [size["steps"][name]["seconds"] for size in sizes]) for name in steps},
        "rss_slopes": {name: slope(rows, [size["steps"][name]["peak_rss_mb"] for size in sizes]) for name in steps},
        "feature_matrix_slope": slope(rows, [size["feature_matrix_mb"] for size in sizes]),
        "model": plan.scale_model,
    }


def _scale_configs(
    configs: list[Path], snapshots: dict[int, Path], work: Path, plan: Plan
) -> dict[str, dict[int, Path]]:
    """For each scale family, its first committed config's model on each grown snapshot, scaffold-split."""
    chosen: dict[str, dict[int, Path]] = {}
    for config in configs:
        document = yaml.safe_load(config.read_text())
        family = document["model"]["family"]
        if family not in SCALE_FAMILIES or family in chosen:
            continue
        model = {**document["model"], **plan.scale_model[family]}
        chosen[family] = {}
        for size, snapshot in snapshots.items():
            scaled = {
                "experiment": "bench-scale",
                "endpoint": {"name": "logp", "unit": "logP"},
                "seed": document.get("seed", 0),
                "data": {
                    "path": str(snapshot),
                    "target_column": bench_data.TARGET,
                    "split": {"method": "scaffold", "test_fraction": 0.2},
                    "on_invalid": "drop",
                },
                "model": model,
            }
            path = work / "scale-configs" / f"{family}-{size}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(scaled, sort_keys=False))
            chosen[family][size] = path
    missing = [family for family in SCALE_FAMILIES if family not in chosen]
    if missing:
        raise RuntimeError(f"no committed config of family {', '.join(missing)} under configs/")
    return chosen


def _predicted_seconds(done: list[dict[str, Any]], size: int) -> float:
    """Each step extrapolated from the sizes measured so far along its own log-log slope (kept within 0 to 2;
    linear from one point), plus the rest of the last process (start-up, imports) as it was."""
    if not done:
        return 0.0
    rows, last = [item["rows"] for item in done], done[-1]
    growth = size / last["size"]
    predicted = last["process_seconds"] - sum(step["seconds"] for step in last["steps"].values())
    for name, step in last["steps"].items():
        exponent = slope(rows, [item["steps"][name]["seconds"] for item in done]) if len(done) > 1 else 1.0
        predicted += step["seconds"] * growth ** min(max(exponent, 0.0), 2.0)
    return predicted


def slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of log y on log x; NaN with fewer than two points."""
    if len(x) < 2:
        return math.nan
    lx, ly = [math.log(v) for v in x], [math.log(max(v, 1e-9)) for v in y]
    mean_x, mean_y = sum(lx) / len(lx), sum(ly) / len(ly)
    spread = sum((v - mean_x) ** 2 for v in lx)
    return sum((a - mean_x) * (b - mean_y) for a, b in zip(lx, ly, strict=True)) / spread


def _cache(scale: dict[str, Any], rows: int) -> dict[str, Any]:
    """The cache at the largest size measured: a miss featurises and writes, a hit reads."""
    size = next(item for item in scale["sizes"] if item["rows"] == rows)
    featurise = size["steps"]["featurise"]["seconds"] * size["cache"]["hit_rows"] / size["rows"]
    miss = featurise + size["cache"]["write_fit_seconds"]
    hit = size["cache"]["hit_seconds"]
    return {
        "rows": size["cache"]["hit_rows"],
        "matrix_mb": size["feature_matrix_mb"] * size["cache"]["hit_rows"] / size["rows"],
        "miss_seconds": miss,
        "hit_seconds": hit,
        "hit_over_miss": hit / miss,
        "hit_over_featurise": hit / featurise,
        "bit_identical": size["cache"]["bit_identical"],
    }


def _smiles(path: Path) -> list[str]:
    import csv

    with path.open(newline="") as handle:
        return [row["smiles"] for row in csv.DictReader(handle)]


def _hash_file(snapshot: Path, work: Path, megabytes: int) -> Path:
    """The largest grown snapshot repeated to `megabytes`, so the hash, not process start-up, is what is timed."""
    raw = snapshot.read_bytes()
    path = work / "hash-me.csv"
    with path.open("wb") as handle:
        for _ in range(max(1, megabytes * 10**6 // len(raw))):
            handle.write(raw)
    return path
