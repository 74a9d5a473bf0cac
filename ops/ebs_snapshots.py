"""EBS snapshots of the volume that holds /opt/mlflow, with a retention count.

The volume is found by the tags Terraform puts on it (App=ai-drug, Role=mlflow-data), or else as the one
data volume attached to the training host. Snapshots carry the same two tags; retention only ever deletes
completed snapshots that carry both, so other apps' snapshots and untagged ones are never touched, and it
deletes nothing unless the new snapshot completed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ops.errors import OpsError

APP_TAG = ("App", "ai-drug")
ROLE_TAG = ("Role", "mlflow-data")
POLL_SECONDS = 5.0


class SnapshotError(OpsError):
    """No snapshot could be taken or it did not complete; the message says what was and was not done."""


@dataclass(frozen=True)
class SnapshotReport:
    """What a snapshot run creates and deletes; with dry_run nothing was done."""

    volume_id: str
    tags: dict[str, str]
    to_delete: list[dict[str, Any]]
    dry_run: bool
    snapshot_id: str | None = None
    deleted: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        tags = ", ".join(f"{key}={value}" for key, value in sorted(self.tags.items()))
        if self.dry_run:
            lines = [f"would snapshot {self.volume_id} with tags {tags}"]
            deletes = [f"would delete {_describe(snap)}" for snap in self.to_delete]
            return lines + (deletes or ["would delete nothing"])
        lines = [f"snapshot {self.snapshot_id} of {self.volume_id} completed, tags {tags}"]
        lines.append(f"snapshots deleted: {', '.join(self.deleted) or 'none'}")
        return lines


def take_snapshot(
    ec2: Any,
    *,
    instance_id: str,
    reason: str,
    database_bytes: int | None,
    kept: int,
    timeout: float,
    dry_run: bool = False,
    poll_seconds: float = POLL_SECONDS,
) -> SnapshotReport:
    """Snapshot the MLflow data volume, wait up to `timeout` seconds, then keep this app's newest `kept`.

    `ec2` is a boto3 EC2 client; `database_bytes` goes into a tag (None when the caller does not know it);
    `kept` is at least 1, as invoke.yaml's maintenance.snapshots_kept is checked to be.
    """
    volume_id = find_data_volume(ec2, instance_id)
    tags = snapshot_tags(reason, database_bytes)
    if dry_run:
        # The snapshot about to be made takes one of the kept places.
        return SnapshotReport(volume_id, tags, _beyond_retention(app_snapshots(ec2), kept), dry_run=True)
    tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
    snapshot_id = ec2.create_snapshot(
        VolumeId=volume_id,
        Description=f"MLflow store: {reason}",
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list}],
    )["SnapshotId"]
    wait_completed(ec2, snapshot_id, timeout, poll_seconds)
    older = [snap for snap in app_snapshots(ec2) if snap["SnapshotId"] != snapshot_id]
    to_delete = _beyond_retention(older, kept)
    deleted: list[str] = []
    for snap in to_delete:
        try:
            ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
        except ClientError as err:
            raise SnapshotError(
                f"snapshot {snapshot_id} completed, but deleting {snap['SnapshotId']} failed "
                f"({err.response['Error'].get('Code')}); deleted before it: {', '.join(deleted) or 'none'}"
            ) from err
        deleted.append(snap["SnapshotId"])
    return SnapshotReport(volume_id, tags, to_delete, dry_run=False, snapshot_id=snapshot_id, deleted=deleted)


def find_data_volume(ec2: Any, instance_id: str) -> str:
    """The volume tagged as MLflow data (attached to `instance_id` if given), else its one non-root volume."""
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in (APP_TAG, ROLE_TAG)]
    if instance_id:
        filters.append({"Name": "attachment.instance-id", "Values": [instance_id]})
    tagged = [volume["VolumeId"] for volume in _all(ec2, "describe_volumes", "Volumes", Filters=filters)]
    if len(tagged) == 1:
        return tagged[0]
    tag_text = f"{APP_TAG[0]}={APP_TAG[1]}, {ROLE_TAG[0]}={ROLE_TAG[1]}"
    if tagged:
        raise SnapshotError(
            f"{len(tagged)} volumes are tagged {tag_text} ({', '.join(sorted(tagged))}); "
            "set aws.instance_id to pick the one attached to the training host"
        )
    if not instance_id:
        raise SnapshotError(f"no volume is tagged {tag_text} and aws.instance_id is not set")
    return _attached_data_volume(ec2, instance_id, tag_text)


def _attached_data_volume(ec2: Any, instance_id: str, tag_text: str) -> str:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instance = reservations[0]["Instances"][0]
    data = [
        mapping["Ebs"]["VolumeId"]
        for mapping in instance.get("BlockDeviceMappings", [])
        if "Ebs" in mapping and mapping["DeviceName"] != instance.get("RootDeviceName")
    ]
    if len(data) != 1:
        raise SnapshotError(
            f"no volume is tagged {tag_text}, and {instance_id} has {len(data)} non-root volumes "
            f"({', '.join(sorted(data)) or 'none'}); tag the MLflow data volume"
        )
    return data[0]


def snapshot_tags(reason: str, database_bytes: int | None) -> dict[str, str]:
    return {
        APP_TAG[0]: APP_TAG[1],
        ROLE_TAG[0]: ROLE_TAG[1],
        "Name": f"{APP_TAG[1]}-{ROLE_TAG[1]}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}",
        "Reason": reason,
        "DatabaseBytes": "unknown" if database_bytes is None else str(database_bytes),
    }


def app_snapshots(ec2: Any) -> list[dict[str, Any]]:
    """This account's completed snapshots that carry both of this app's tags, newest first."""
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in (APP_TAG, ROLE_TAG)]
    filters.append({"Name": "status", "Values": ["completed"]})
    snaps = _all(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=filters)
    # The filter is the server's; check the tags here too, since deleting is not undoable.
    snaps = [snap for snap in snaps if _has_app_tags(snap)]
    return sorted(snaps, key=lambda snap: (snap["StartTime"], snap["SnapshotId"]), reverse=True)


def wait_completed(ec2: Any, snapshot_id: str, timeout: float, poll_seconds: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            snap = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
        except ClientError as err:
            # EC2 is eventually consistent: a new snapshot can be unknown for a moment.
            if err.response.get("Error", {}).get("Code") != "InvalidSnapshot.NotFound":
                raise
            snap = {"State": "pending"}
        if snap["State"] == "completed":
            return
        if snap["State"] == "error":
            raise SnapshotError(f"snapshot {snapshot_id} failed: {snap.get('StateMessage', 'no message')}")
        if time.monotonic() >= deadline:
            raise SnapshotError(
                f"snapshot {snapshot_id} is still {snap['State']} ({snap.get('Progress', '?')}) after "
                f"{timeout:g} s; it goes on in AWS; no old snapshot was deleted"
            )
        time.sleep(poll_seconds)


def _beyond_retention(older: list[dict[str, Any]], kept: int) -> list[dict[str, Any]]:
    """The older snapshots to delete so that they and one new snapshot make `kept`."""
    return older[kept - 1 :]


def _has_app_tags(snap: dict[str, Any]) -> bool:
    tags = {tag["Key"]: tag["Value"] for tag in snap.get("Tags", [])}
    return all(tags.get(key) == value for key, value in (APP_TAG, ROLE_TAG))


def _describe(snap: dict[str, Any]) -> str:
    started = snap["StartTime"].astimezone(UTC)
    return f"{snap['SnapshotId']} (started {started:%Y-%m-%d %H:%M} UTC, {snap.get('VolumeSize', '?')} GiB)"


def _all(ec2: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    return [item for page in ec2.get_paginator(operation).paginate(**params) for item in page[key]]
