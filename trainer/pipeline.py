"""The one path every family takes: key -> skip, or check data -> lock -> look again -> fit -> evaluate -> log."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer import feature_cache
from trainer.claim import one_training
from trainer.config import TrainConfig, load_config
from trainer.data_file import content_hash, read_snapshot
from trainer.paths import PROJECT
from trainer.runkey import KeyParts, differences, key_parts
from trainer.tracking import Store

if TYPE_CHECKING:
    from trainer.data import Dataset

STEP_FLUSH_SIZE = 500
BATCH_JOB_VARIABLE, BATCH_JOB_TAG = "AWS_BATCH_JOB_ID", "batch_job_id"  # AWS Batch sets the variable
STEP_FLUSH_SECONDS = 5.0


@dataclass(frozen=True)
class Prepared:
    """A validated config with its snapshot's bytes and its key: everything needed to skip or train."""

    path: Path
    config: TrainConfig
    raw: bytes
    parts: KeyParts


@dataclass(frozen=True)
class Outcome:
    path: Path
    family: str
    action: str
    run_id: str
    test_rmse: float | None = None
    seconds: float | None = None


def prepare(path: Path) -> Prepared:
    """Validate the config and hash its data and code; no ML framework is imported here."""
    config = load_config(path)
    raw = read_snapshot(config.data.path)
    return Prepared(path, config, raw, key_parts(config.family, config.key_json(), content_hash(raw)))


def skip_or_train(prepared: Prepared, store: Store, lock_timeout: float, say: Callable[[str], None]) -> Outcome:
    """Train unless a complete run already holds the key; the second look-up under the lock (or the key's
    claim, trainer/claim.py) makes two same-key processes started together train once."""
    key = prepared.parts.run_key
    if found := store.find_complete(key):
        return _skipped(prepared, found)
    from trainer.data import load_dataset
    from trainer.diskspace import require_free_space
    from trainer.models import check_family

    # Refused data, params or settings must leave no trace: checked before the lock creates the store's folder.
    features = feature_cache.for_store(store.uri)
    dataset = load_dataset(prepared.raw, prepared.config.data)
    check_family(prepared.config.family, prepared.config.params, prepared.config.seed)
    require_free_space(store.uri)
    with one_training(store.uri, key, lock_timeout, tell=lambda message: say(f"{prepared.path}: {message}")):
        if found := store.find_complete(key):
            return _skipped(prepared, found)
        with feature_cache.active(features):
            return _train(prepared, dataset, store)


def explain(prepared: Prepared, store: Store) -> list[str]:
    """The key's parts, and on a miss what differs from the newest complete run of the same endpoint and family."""
    parts, name = prepared.parts, f"{prepared.path} ({prepared.config.family})"
    lines = [
        f"{name}: key {parts.run_key[:12]} = code {parts.code_hash[:12]}"
        f" + config {parts.config_hash[:12]} + data {parts.data_hash[:12]}"
    ]
    if found := store.find_complete(parts.run_key):
        return [*lines, f"  hit: run {found} holds this key; training would be skipped"]
    previous = store.newest_of_family(prepared.config.family, prepared.config.endpoint.name)
    if previous is None:
        return [*lines, "  miss: no complete earlier run of this endpoint and family; training would run"]
    # Params outside the config's own sections (domain.*, uncertainty.*) were fixed by training, not asked for.
    sections = prepared.config.canonical().keys()
    asked = {name: value for name, value in previous.data.params.items() if name.split(".")[0] in sections}
    reasons = differences(parts, previous.data.tags, asked, flat_params(prepared.config))
    return [
        *lines,
        f"  miss: differs from run {previous.info.run_id}:",
        *(f"    {reason}" for reason in reasons),
    ]


def flat_params(config: TrainConfig) -> dict[str, str]:
    """The canonical config as MLflow params: nested keys joined with dots."""

    def walk(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            yield prefix, "null" if value is None else str(value)

    return dict(walk("", config.canonical()))


def _skipped(prepared: Prepared, run_id: str) -> Outcome:
    return Outcome(prepared.path, prepared.config.family, "skipped", run_id)


def _train(prepared: Prepared, dataset: Dataset, store: Store) -> Outcome:
    import mlflow

    from trainer.ensemble import train_replicates
    from trainer.evaluation import evaluate_and_log
    from trainer.inputs import log_snapshot
    from trainer.models import load_family
    from trainer.provenance import git_sha
    from trainer.registry import contest, create_version
    from trainer.serving import log_pyfunc
    from trainer.tracking import mark_complete, training_run

    config, endpoint = prepared.config, prepared.config.endpoint
    sha, dirty = git_sha(PROJECT)
    tags = {
        **prepared.parts.tags(),
        "git_sha": sha,
        "git_dirty": str(dirty).lower(),
        "model_family": config.family,
        "endpoint": endpoint.name,
        "endpoint_unit": endpoint.unit,
        "test_set_hash": dataset.split.test.content_hash(),
        "config_file": str(prepared.path),
        "mlflow.runName": f"{endpoint.name}-{config.family}-{prepared.parts.run_key[:8]}",
    }
    if job := os.environ.get(BATCH_JOB_VARIABLE):
        tags[BATCH_JOB_TAG] = job  # so `invoke dispatch --target batch` tells its job's training from a skip
    started = time.monotonic()
    with training_run(store, tags) as run:
        mlflow.log_params(flat_params(config))
        mlflow.log_text(config.canonical_json(), "config.json")
        mlflow.log_metrics({name: float(value) for name, value in dataset.figures().items()})
        if dataset.rejected:
            mlflow.log_text(dataset.rejected_csv(), "data/rejected_rows.csv")
        log_snapshot(
            config.data.path,
            prepared.parts.data_hash,
            dataset.split,
            config.data.smiles_column,
            config.data.target_column,
        )
        family = load_family(config.family)
        with StepLog(run.info.run_id, store) as log_step:
            model = train_replicates(family, config.params, dataset.split, config.seed, config.replicates, log_step)
        mlflow.log_params(model.params())
        mlflow.set_tags({f"fit.{name}": value for name, value in model.summary().items()})
        title = f"{endpoint.name} ({config.family}): test set"
        scores = evaluate_and_log(model, dataset.split, title, endpoint.unit)
        model.log_native("model", dataset.split.train.smiles)
        pyfunc = log_pyfunc(model, "pyfunc", dataset.split.train.smiles)
        name, version = create_version(
            store.client, run.info.run_id, endpoint.name, endpoint.unit, config.family, pyfunc
        )
        mark_complete()
    # The alias moves only once the run has ended FINISHED with its completion tag.
    contest(store.client, name, version, config.selection.margin)
    return Outcome(
        prepared.path, config.family, "trained", run.info.run_id, scores.test_rmse, time.monotonic() - started
    )


class StepLog:
    """Per-step metrics (learning curves), sent in batches: one write per step would dominate a fit."""

    def __init__(self, run_id: str, store: Store) -> None:
        self.run_id, self.client = run_id, store.client
        self.pending: list = []
        self.last_flush = time.monotonic()

    def __enter__(self) -> StepLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()

    def __call__(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(name, float(value), now, step) for name, value in metrics.items()]
        if len(self.pending) >= STEP_FLUSH_SIZE or time.monotonic() - self.last_flush > STEP_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:STEP_FLUSH_SIZE], self.pending[STEP_FLUSH_SIZE:]
            self.client.log_batch(self.run_id, metrics=batch)
        self.last_flush = time.monotonic()
