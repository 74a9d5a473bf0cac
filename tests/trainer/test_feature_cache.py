"""The feature cache: a hit is bit-identical to a miss, half or damaged entries are never trusted, LRU bound holds."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SNAPSHOT
from tests.trainer.conftest import run_trainer
from trainer import feature_cache
from trainer.feature_cache import SUFFIX, TEMP_PREFIX, FeatureCache
from trainer.features import FeatureSpec, featuriser_code, featurize

SPEC = FeatureSpec(morgan_size=256, descriptors="all")


def molecules(count: int, start: int = 0) -> list[str]:
    with SNAPSHOT.open() as handle:
        return [row["smiles"] for row in csv.DictReader(handle)][start : start + count]


class Counted:
    """A computation that says how often it ran."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix, self.calls = matrix, 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.matrix.copy()


def entries(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix == SUFFIX and not path.name.startswith(TEMP_PREFIX))


def test_a_hit_gives_the_same_bits_as_a_miss_and_featurises_nothing(tmp_path: Path) -> None:
    smiles = [*molecules(40), "not-a-smiles"]
    plain = featurize(smiles, SPEC)
    cache = FeatureCache(tmp_path, 10**9)
    with feature_cache.active(cache):
        miss = featurize(smiles, SPEC)
        assert len(entries(tmp_path)) == 1
        hit = featurize(smiles, SPEC)
    assert miss.tobytes() == plain.tobytes() and hit.tobytes() == plain.tobytes()
    assert hit.dtype == plain.dtype and hit.shape == plain.shape and np.isnan(hit[-1]).all()

    counted = Counted(plain)
    assert cache.get_or_compute(smiles, SPEC.model_dump_json(), featuriser_code(), counted).tobytes() == plain.tobytes()
    assert counted.calls == 0
    other_spec = FeatureSpec(morgan_size=256, descriptors="none").model_dump_json()
    cache.get_or_compute(smiles, other_spec, featuriser_code(), counted)
    cache.get_or_compute(smiles[:-1], SPEC.model_dump_json(), featuriser_code(), counted)
    cache.get_or_compute(smiles, SPEC.model_dump_json(), "other code", counted)
    assert counted.calls == 3 and len(entries(tmp_path)) == 4


def test_a_half_written_temp_file_is_never_read_and_is_swept_once_stale(tmp_path: Path) -> None:
    smiles = molecules(5)
    cache = FeatureCache(tmp_path, 10**9)
    good = Counted(np.arange(10.0).reshape(5, 2))
    cache.get_or_compute(smiles, "spec", "code", good)
    entry = entries(tmp_path)[0]
    # What a run killed mid-write leaves: a temp file holding the start of an entry, here of other numbers.
    half = tmp_path / f"{TEMP_PREFIX}killed{SUFFIX}"
    half.write_bytes(entry.read_bytes()[:40])
    entry.unlink()
    fresh = Counted(np.ones((5, 2)))
    assert cache.get_or_compute(smiles, "spec", "code", fresh).tolist() == np.ones((5, 2)).tolist()
    assert fresh.calls == 1 and half.exists()
    old = half.stat().st_mtime - 2 * feature_cache.STALE_TEMP_SECONDS
    os.utime(half, (old, old))
    cache.evict()
    assert not half.exists() and len(entries(tmp_path)) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],
        lambda raw: raw[:-8] + bytes(8),
        lambda raw: b"{not json\n" + raw.split(b"\n", 1)[1],
        lambda raw: b"",
    ],
    ids=["truncated", "flipped-bytes", "bad-header", "empty"],
)
def test_a_damaged_entry_is_recomputed_not_trusted(tmp_path: Path, damage) -> None:
    smiles = molecules(5)
    cache = FeatureCache(tmp_path, 10**9)
    truth = np.arange(10.0).reshape(5, 2) + 0.5
    cache.get_or_compute(smiles, "spec", "code", Counted(truth))
    entry = entries(tmp_path)[0]
    entry.write_bytes(damage(entry.read_bytes()))
    again = Counted(truth)
    assert cache.get_or_compute(smiles, "spec", "code", again).tobytes() == truth.tobytes()
    assert again.calls == 1
    reread = Counted(truth)
    assert cache.get_or_compute(smiles, "spec", "code", reread).tobytes() == truth.tobytes()
    assert reread.calls == 0, "the recomputed entry is stored again, whole"


def test_an_entry_renamed_to_another_key_is_not_trusted(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, 10**9)
    cache.get_or_compute(molecules(5), "spec", "code", Counted(np.zeros((5, 2))))
    wrong = feature_cache.entry_key(molecules(5, start=5), "spec", "code")
    entries(tmp_path)[0].rename(tmp_path / f"{wrong}{SUFFIX}")
    other = Counted(np.ones((5, 2)))
    assert cache.get_or_compute(molecules(5, start=5), "spec", "code", other).sum() == 10 and other.calls == 1


def test_eviction_keeps_the_most_recently_used_within_the_bound(tmp_path: Path) -> None:
    matrix = np.zeros((100, 100))
    cache = FeatureCache(tmp_path, int(2.5 * (matrix.nbytes + 300)))
    names = {name: feature_cache.entry_key([name] * 100, "spec", "code") for name in "abcde"}
    for name in "abc":
        cache.get_or_compute([name] * 100, "spec", "code", Counted(matrix))
    assert {path.stem for path in entries(tmp_path)} == {names["b"], names["c"]}
    assert sum(path.stat().st_size for path in entries(tmp_path)) <= cache.limit_bytes

    used = Counted(matrix)
    cache.get_or_compute(["b"] * 100, "spec", "code", used)  # a hit makes b the most recently used
    assert used.calls == 0
    cache.get_or_compute(["d"] * 100, "spec", "code", Counted(matrix))
    assert {path.stem for path in entries(tmp_path)} == {names["b"], names["d"]}

    cache.get_or_compute(["e"] * 400, "spec", "code", Counted(np.zeros((400, 100))))
    assert {path.stem for path in entries(tmp_path)} == {names["b"], names["d"]}, "an entry over the bound is not kept"


def test_the_folder_follows_the_store_and_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(feature_cache.FOLDER_VARIABLE, raising=False)
    monkeypatch.delenv(feature_cache.LIMIT_VARIABLE, raising=False)
    embedded = feature_cache.for_store(f"sqlite:///{tmp_path}/store/mlflow.db")
    assert embedded == FeatureCache(tmp_path / "store" / "features", feature_cache.DEFAULT_LIMIT_MB * 2**20)
    assert feature_cache.for_store("http://127.0.0.1:5000") is None
    monkeypatch.setenv(feature_cache.FOLDER_VARIABLE, str(tmp_path / "elsewhere"))
    monkeypatch.setenv(feature_cache.LIMIT_VARIABLE, "12")
    assert feature_cache.for_store("http://127.0.0.1:5000") == FeatureCache(tmp_path / "elsewhere", 12 * 2**20)
    monkeypatch.setenv(feature_cache.FOLDER_VARIABLE, "off")
    assert feature_cache.for_store(f"sqlite:///{tmp_path}/mlflow.db") is None


def outcome(result) -> tuple[str, str]:
    """(run id, test RMSE) of a one-config training."""
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    return words[words.index("run") + 1], words[words.index("RMSE") + 1]


def test_a_hyperparameter_retrain_reads_features_and_the_run_key_ignores_the_cache(
    make_config, store_uri: str, tmp_path: Path
) -> None:
    folder = Path(store_uri.removeprefix("sqlite:///")).parent / "features"
    first, deeper = make_config("xgb"), make_config("xgb", name="xgb-deeper", max_depth=3)
    outcome(run_trainer("--config", str(first)))
    stored = {path: path.stat() for path in entries(folder)}
    assert len(stored) >= 2, "training and evaluation features are kept"

    cached_run, cached_rmse = outcome(run_trainer("--config", str(deeper)))
    assert set(entries(folder)) == set(stored)
    for path, before in stored.items():
        after = path.stat()
        assert after.st_ino == before.st_ino and after.st_mtime_ns > before.st_mtime_ns, "read, not rewritten"

    plain_uri = f"sqlite:///{tmp_path}/plain/mlflow.db"
    off = {"MLFLOW_TRACKING_URI": plain_uri, feature_cache.FOLDER_VARIABLE: "off"}
    plain_run, plain_rmse = outcome(run_trainer("--config", str(deeper), env=off))
    assert plain_rmse == cached_rmse
    assert not (tmp_path / "plain" / "features").exists()

    from mlflow import MlflowClient

    def key(uri: str, run_id: str) -> str:
        return MlflowClient(uri).get_run(run_id).data.tags["run_key"]

    assert key(store_uri, cached_run) == key(plain_uri, plain_run)
    for setting in ("", str(tmp_path / "elsewhere"), "off"):
        explained = run_trainer(
            "--config", str(deeper), "--explain", env={**off, feature_cache.FOLDER_VARIABLE: setting}
        )
        assert f"hit: run {plain_run} holds this key" in explained.stdout, explained.stdout


def test_a_bad_bound_is_refused_in_one_line_and_nothing_is_written(make_config, store_uri: str) -> None:
    result = run_trainer("--config", str(make_config("rf")), env={feature_cache.LIMIT_VARIABLE: "lots"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {make_config('rf')}: TRAINER_FEATURE_CACHE_MB: 'lots' is not a whole number of megabytes >= 0"
    ]
    assert not Path(store_uri.removeprefix("sqlite:///")).parent.exists()


def test_entry_header_names_its_key_and_checksum(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, 10**9)
    cache.get_or_compute(["C"], "spec", "code", Counted(np.zeros((1, 3))))
    header = json.loads(entries(tmp_path)[0].read_bytes().split(b"\n", 1)[0])
    assert header["key"] == feature_cache.entry_key(["C"], "spec", "code") == entries(tmp_path)[0].stem
    assert set(header) == {"format", "key", "crc32"}
