"""EBS snapshots against moto's EC2 server: the right volume, the tags, retention that spares others."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ops.ebs_snapshots import SnapshotError, take_snapshot
from tests.maintenance.ec2_account import APP_TAGS, Account

ROOT = Path(__file__).resolve().parents[2]


def snap(account: Account, **overrides: Any):
    settings = {"instance_id": "", "reason": "test", "database_bytes": 1234, "kept": 3, "timeout": 30.0}
    return take_snapshot(account.ec2, **(settings | overrides))


def test_snapshots_the_tagged_volume_and_tags_the_snapshot(account: Account):
    account.volume()
    account.volume({"App": "ai-drug", "Role": "scratch"})
    data = account.volume(APP_TAGS)

    report = snap(account, reason="nightly maintenance", database_bytes=1_466_368)

    described = account.ec2.describe_snapshots(SnapshotIds=[report.snapshot_id])["Snapshots"][0]
    assert described["VolumeId"] == data == report.volume_id
    assert described["State"] == "completed"
    tags = account.tags_of(report.snapshot_id)
    assert {key: tags[key] for key in ("App", "Role", "Reason", "DatabaseBytes")} == {
        **APP_TAGS,
        "Reason": "nightly maintenance",
        "DatabaseBytes": "1466368",
    }
    assert tags["Name"].startswith("ai-drug-mlflow-data-")
    assert report.deleted == []


@pytest.fixture
def crowded(account: Account) -> tuple[Account, list[str], set[str]]:
    """Nine snapshots of this app (newest first) among others that retention must never touch."""
    data = account.volume(APP_TAGS)
    ours = [account.snapshot(data, APP_TAGS, days_ago=day) for day in range(1, 10)]
    strangers = {
        account.snapshot(data, {"App": "other-app", "Role": "mlflow-data"}, days_ago=30),
        account.snapshot(data, None, days_ago=31),
        account.snapshot(data, {"App": "ai-drug"}, days_ago=32),
        account.snapshot(data, {"Role": "mlflow-data"}, days_ago=33),
        account.snapshot(account.volume({"App": "other-app"}), {"App": "other-app"}, days_ago=34),
    }
    return account, ours, strangers


def test_retention_deletes_only_this_apps_oldest_snapshots(crowded):
    account, ours, strangers = crowded

    report = snap(account, kept=3)

    assert report.deleted == ours[2:]
    assert account.snapshot_ids() == strangers | set(ours[:2]) | {report.snapshot_id}


def test_dry_run_lists_what_the_real_run_then_does(crowded):
    account, ours, _ = crowded
    before = account.snapshot_ids()

    plan = snap(account, kept=4, dry_run=True)

    assert account.snapshot_ids() == before
    assert [s["SnapshotId"] for s in plan.to_delete] == ours[3:]
    lines = plan.lines()
    assert lines[0].startswith(f"would snapshot {plan.volume_id} with tags App=ai-drug, DatabaseBytes=1234, ")
    assert [line.split()[2] for line in lines[1:]] == ours[3:]
    assert all(line.startswith("would delete snap-") for line in lines[1:])

    report = snap(account, kept=4)

    assert report.deleted == ours[3:]
    assert report.lines()[1] == f"snapshots deleted: {', '.join(ours[3:])}"


def test_a_snapshot_that_cannot_be_deleted_stops_retention_with_one_line(account: Account):
    data = account.volume(APP_TAGS)
    instance = account.instance(data)
    newer = account.snapshot(data, APP_TAGS, days_ago=1)
    in_use = account.image_snapshot(instance, APP_TAGS, days_ago=5)
    oldest = account.snapshot(data, APP_TAGS, days_ago=9)

    with pytest.raises(SnapshotError) as refused:
        snap(account, kept=1)

    message = str(refused.value)
    new = message.split()[1]
    assert message == (
        f"snapshot {new} completed, but deleting {in_use} failed (InvalidSnapshot.InUse); deleted before it: {newer}"
    )
    remaining = account.snapshot_ids()
    assert {new, in_use, oldest} <= remaining
    assert newer not in remaining


def test_finds_the_data_volume_by_the_instance_attachment(account: Account):
    data = account.volume()
    instance = account.instance(data)

    assert snap(account, instance_id=instance).volume_id == data


def test_with_an_instance_the_attached_tagged_volume_wins(account: Account):
    account.volume(APP_TAGS)
    attached = account.volume(APP_TAGS)
    instance = account.instance(attached)

    with pytest.raises(SnapshotError, match="2 volumes are tagged App=ai-drug, Role=mlflow-data"):
        snap(account)
    assert snap(account, instance_id=instance).volume_id == attached


def test_no_volume_found_is_an_error_that_creates_nothing(account: Account):
    account.volume({"App": "other-app", "Role": "mlflow-data"})

    with pytest.raises(SnapshotError, match="no volume is tagged App=ai-drug, Role=mlflow-data"):
        snap(account)
    assert account.snapshot_ids() == set()


def test_retention_below_one_is_bad_input(account: Account):
    account.volume(APP_TAGS)

    result = run_task(account, INVOKE_MAINTENANCE_SNAPSHOTS_KEPT="0")

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: INVOKE_MAINTENANCE_SNAPSHOTS_KEPT: maintenance.snapshots_kept: 0 is not a whole number from 1 to 1000\n"
    )
    assert account.snapshot_ids() == set()


@pytest.mark.parametrize(
    ("state", "message"),
    [("pending", "still pending .* no old snapshot was deleted"), ("error", "snap-new failed: disk gone")],
)
def test_a_snapshot_that_does_not_complete_deletes_nothing(state: str, message: str):
    """moto completes snapshots at once, so the stuck and failed states are stubbed."""
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ec2) as stub:
        stub.add_response("describe_volumes", {"Volumes": [{"VolumeId": "vol-data"}]})
        stub.add_response("create_snapshot", {"SnapshotId": "snap-new"})
        stub.add_response(
            "describe_snapshots",
            {"Snapshots": [{"SnapshotId": "snap-new", "State": state, "StateMessage": "disk gone"}]},
            {"SnapshotIds": ["snap-new"]},
        )
        # Any further call (a listing for retention, a delete) would fail the stubber.
        with pytest.raises(SnapshotError, match=message):
            take_snapshot(ec2, instance_id="", reason="t", database_bytes=None, kept=1, timeout=0)
        stub.assert_no_pending_responses()


def run_task(account: Account, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    overrides = {"INVOKE_AWS_REGION": account.region, "INVOKE_MAINTENANCE_SNAPSHOTS_KEPT": "2", **env}
    return subprocess.run(
        [sys.executable, "-m", "invoke", "maintenance.snapshot", *args],
        cwd=ROOT,
        env={**os.environ, **overrides},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_task_dry_run_then_real_run(crowded):
    account, ours, strangers = crowded

    dry = run_task(account, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert [line.split()[2] for line in dry.stdout.splitlines()[1:]] == ours[1:]

    real = run_task(account, "--reason", "operator check", "--database-bytes", "42")
    assert real.returncode == 0, real.stderr
    new = real.stdout.split()[1]
    assert real.stdout.splitlines()[1] == f"snapshots deleted: {', '.join(ours[1:])}"
    assert account.tags_of(new)["Reason"] == "operator check"
    assert account.tags_of(new)["DatabaseBytes"] == "42"
    assert account.snapshot_ids() == strangers | {ours[0], new}


def test_task_without_a_volume_exits_1_with_one_line(account: Account):
    result = run_task(account)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.strip() == (
        "error: no volume is tagged App=ai-drug, Role=mlflow-data and aws.instance_id is not set"
    )
