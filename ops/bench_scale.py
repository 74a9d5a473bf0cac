"""One size of the scale bench in a process of its own, so each step's peak RSS is its own.

`python -m ops.bench_scale PLAN.json RESULT.json`: the plan names one config per family, all on the same
grown snapshot. Steps, each timed with its peak RSS: hash (config and snapshot read and hashed), load (parse,
validate, deduplicate, split), featurise (every molecule, no cache), then per family fit and log (the
pipeline's training half on a throw-away store, with the features read from the cache). The cache's write
and hit are timed too.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

CLEAR_PEAK = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")


def peak_rss_mb() -> float:
    """This process's peak resident set since the last reset (VmHWM), in MiB."""
    for line in STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Linux resets VmHWM to the current RSS when 5 is written to clear_refs."""
    with suppress(OSError):
        CLEAR_PEAK.write_text("5")


@contextmanager
def step(record: dict[str, Any], name: str) -> Iterator[None]:
    reset_peak()
    started = time.perf_counter()
    yield
    record[name] = {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def measure(plan: dict[str, Any]) -> dict[str, Any]:
    from trainer import feature_cache, pipeline
    from trainer.data import load_dataset
    from trainer.features import featuriser_code, featurize
    from trainer.models import load_family
    from trainer.tracking import Store, quiet_mlflow

    quiet_mlflow()
    steps: dict[str, Any] = {}
    configs = {family: Path(path) for family, path in plan["configs"].items()}
    with step(steps, "hash"):
        prepared = {family: pipeline.prepare(path) for family, path in configs.items()}
    first = next(iter(prepared.values()))
    with step(steps, "load"):
        dataset = load_dataset(first.raw, first.config.data)
    split = dataset.split
    spec = first.config.params.features
    everything = [*split.train.smiles, *split.valid.smiles, *split.test.smiles]
    with step(steps, "featurise"):
        matrix = featurize(everything, spec)
    steps["featurise"]["worker_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    cache = feature_cache.FeatureCache(Path(plan["cache"]), 2**40)
    spec_json, code = spec.model_dump_json(), featuriser_code()
    n_train, n_fit = len(split.train), len(split.train) + len(split.valid)
    asked = {  # what the pipeline featurises: train+valid to fit, valid and test to evaluate, a sample to log
        "fit": (everything[:n_fit], matrix[:n_fit]),
        "valid": (list(split.valid.smiles), matrix[n_train:n_fit]),
        "test": (list(split.test.smiles), matrix[n_fit:]),
        "sample": (list(split.train.smiles[:5]), matrix[:5]),
    }
    cache_figures: dict[str, Any] = {}
    for name, (smiles, rows) in asked.items():
        started = time.perf_counter()
        cache.get_or_compute(smiles, spec_json, code, lambda rows=rows: rows)
        cache_figures[f"write_{name}_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    hit = cache.get_or_compute(asked["fit"][0], spec_json, code, _never)
    cache_figures["hit_seconds"] = time.perf_counter() - started
    cache_figures["bit_identical"] = hit.tobytes() == matrix[:n_fit].tobytes()
    shape, matrix_mb = matrix.shape, matrix.nbytes / 2**20
    del hit, matrix, asked  # the fit and log steps read their features from the cache, as a retrain would
    cache_figures["hit_rows"] = n_fit

    quality = {}
    for family, item in prepared.items():
        module = load_family(family)
        module.train = _timed(module.train, steps, f"fit_{family}")
        store = Store(f"sqlite:///{plan['store']}/{family}/mlflow.db", "bench")
        with feature_cache.active(cache):
            reset_peak()
            started = time.perf_counter()
            # The pipeline's training half (run, fit, evaluate, log, register), without the look-up and lock.
            outcome = pipeline._train(item, dataset, store)
            total = time.perf_counter() - started
        fit = steps[f"fit_{family}"]["seconds"]
        steps[f"log_{family}"] = {"seconds": total - fit, "peak_rss_mb": peak_rss_mb()}
        quality[family] = outcome.test_rmse
    return {
        "rows": len(everything),
        "rows_in_file": dataset.rows,
        "feature_matrix_mb": matrix_mb,
        "features": shape[1],
        "steps": steps,
        "cache": cache_figures,
        "test_rmse": quality,
    }


def _timed(train: Callable, steps: dict[str, Any], name: str) -> Callable:
    def timed(*args: Any, **kwargs: Any) -> Any:
        with step(steps, name):
            result = train(*args, **kwargs)
        reset_peak()  # what follows is the log step's
        return result

    return timed


def _never():
    raise AssertionError("the entry was just written: a miss here means the cache lost it")


def main() -> int:
    plan_path, result_path = map(Path, sys.argv[1:3])
    result = measure(json.loads(plan_path.read_text()))
    result_path.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
