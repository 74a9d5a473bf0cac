"""Where data and code come from: s3:// snapshots, the git SHA tag, and the store's lock."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest

from trainer.cli import run
from trainer.data_file import read_snapshot
from trainer.errors import BadInput
from trainer.lock import exclusive, lock_path
from trainer.pipeline import prepare
from trainer.provenance import git_sha


def test_an_s3_snapshot_hashes_like_the_same_bytes_on_disk(moto_endpoint, make_config, tiny_csv) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="ai-drug-data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="ai-drug-data", Key="snapshots/tiny.csv", Body=tiny_csv.read_bytes())
    local = prepare(make_config("rf"))
    remote = prepare(make_config("rf", name="s3", data={"path": "s3://ai-drug-data/snapshots/tiny.csv"}))
    assert remote.raw == tiny_csv.read_bytes()
    assert remote.parts.data_hash == local.parts.data_hash
    assert remote.parts.run_key == local.parts.run_key

    with pytest.raises(
        BadInput, match=r"data\.path: s3://ai-drug-data/snapshots/gone\.csv does not exist \(NoSuchKey\)"
    ):
        read_snapshot("s3://ai-drug-data/snapshots/gone.csv")
    with pytest.raises(BadInput, match=r"data\.path: s3://ai-drug-data is not of the form s3://bucket/key"):
        read_snapshot("s3://ai-drug-data")


def test_a_missing_local_snapshot_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"data\.path: cannot read .*absent\.csv \(No such file or directory\)"):
        read_snapshot(str(tmp_path / "absent.csv"))


def test_git_sha_prefers_the_environment_then_git_with_a_dirty_flag(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GIT_SHA", raising=False)
    assert git_sha(tmp_path) == ("unknown", False)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    (tmp_path / "f.txt").write_text("one\n")
    git("add", "f.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    head = git("rev-parse", "HEAD").strip()
    assert git_sha(tmp_path) == (head, False)
    (tmp_path / "f.txt").write_text("two\n")
    assert git_sha(tmp_path) == (head, True)
    monkeypatch.setenv("GIT_SHA", "abc1234")
    assert git_sha(tmp_path) == ("abc1234", False)


def test_a_store_locked_past_the_timeout_exits_1_and_trains_nothing(make_config, store_uri, capsys) -> None:
    config = make_config("rf")
    with exclusive(lock_path(store_uri), timeout=1):
        code = run([str(config)], explain=False, configs_dir=Path("configs"), lock_timeout=0.5)
    captured = capsys.readouterr()
    assert code == 1
    assert "waiting for another training on this store (up to 0.5 s)" in captured.err
    assert f"error: {config}: failed: LockTimeout: " in captured.err
    assert "train.lock is still locked after 0.5 s" in captured.err
    assert not Path(store_uri.removeprefix("sqlite:///")).exists()


def test_the_lock_of_a_sqlite_store_is_beside_it_and_shared_with_the_host(tmp_path: Path) -> None:
    assert lock_path("sqlite:////opt/mlflow/mlruns.db") == Path("/opt/mlflow/train.lock")
    server = lock_path("http://mlflow:5000")
    assert server.name.startswith("ai-drug-train-")
    assert server != lock_path("http://other:5000")
