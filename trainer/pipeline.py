"""The one path every family takes: key -> skip, or check data -> lock -> look again -> fit -> evaluate -> log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer import feature_cache
from trainer.config import TrainConfig, load_config
from trainer.data_file import content_hash, read_snapshot
from trainer.lock import exclusive, lock_path
from trainer.paths import PROJECT
from trainer.runkey import KeyParts, differences, key_parts
from trainer.tracking import Store

if TYPE_CHECKING:
    from trainer.data import Dataset

STEP_FLUSH_SIZE = 500
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
    """Train unless a complete run already holds the key; the second look-up under the lock makes
    two same-key processes started together train once."""
    key = prepared.parts.run_key
    if found := store.find_complete(key):
        return _skipped(prepared, found)
    from trainer.data import load_dataset

    # Refused data or settings must leave no trace, so they are checked before the lock creates the store's folder.
    features = feature_cache.for_store(store.uri)
    dataset = load_dataset(prepared.raw, prepared.config.data)
    waiting = f"{prepared.path}: waiting for another training on this store (up to {lock_timeout:g} s)"
    with exclusive(lock_path(store.uri), lock_timeout, on_wait=lambda: say(waiting)):
        if found := store.find_complete(key):
            return _skipped(prepared, found)
        with feature_cache.active(features):
            return _train(prepared, dataset, store)


def explain(prepared: Prepared, store: Store) -> list[str]:
    """The key's parts, and on a miss what differs from the newest complete run of the same family."""
    parts, name = prepared.parts, f"{prepared.path} ({prepared.config.family})"
    lines = [
        f"{name}: key {parts.run_key[:12]} = code {parts.code_hash[:12]}"
        f" + config {parts.config_hash[:12]} + data {parts.data_hash[:12]}"
    ]
    if found := store.find_complete(parts.run_key):
        return [*lines, f"  hit: run {found} holds this key; training would be skipped"]
    previous = store.newest_of_family(prepared.config.family)
    if previous is None:
        return [*lines, "  miss: no complete earlier run of this family; training would run"]
    reasons = differences(parts, previous.data.tags, previous.data.params, flat_params(prepared.config))
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

    from trainer.evaluation import evaluate_and_log
    from trainer.models import load_family
    from trainer.provenance import git_sha
    from trainer.registry import register
    from trainer.serving import log_pyfunc
    from trainer.tracking import mark_complete, training_run

    config = prepared.config
    sha, dirty = git_sha(PROJECT)
    tags = {
        **prepared.parts.tags(),
        "git_sha": sha,
        "git_dirty": str(dirty).lower(),
        "model_family": config.family,
        "config_file": str(prepared.path),
        "mlflow.runName": f"{config.family}-{prepared.parts.run_key[:8]}",
    }
    started = time.monotonic()
    with training_run(store, tags) as run:
        mlflow.log_params(flat_params(config))
        mlflow.log_text(config.canonical_json(), "config.json")
        mlflow.log_metrics({name: float(value) for name, value in dataset.figures().items()})
        if dataset.rejected:
            mlflow.log_text(dataset.rejected_csv(), "data/rejected_rows.csv")
        with StepLog(run.info.run_id, store) as log_step:
            model = load_family(config.family).train(config.params, dataset.split, config.seed, log_step)
        mlflow.set_tags({f"fit.{name}": value for name, value in model.summary().items()})
        test_rmse = evaluate_and_log(model, dataset.split, config.family, config.data.target_column)
        model.log_native("model", dataset.split.train.smiles)
        pyfunc = log_pyfunc(model, "pyfunc", dataset.split.train.smiles)
        register(store.client, run.info.run_id, config.family, pyfunc, test_rmse, prepared.parts.data_hash)
        mark_complete()
    return Outcome(prepared.path, config.family, "trained", run.info.run_id, test_rmse, time.monotonic() - started)


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
