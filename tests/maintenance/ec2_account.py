"""A fresh moto EC2 region per test, with helpers to make volumes, instances and snapshots at chosen times."""

from __future__ import annotations

from datetime import datetime, timedelta

import boto3
import pytest
from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

APP_TAGS = {"App": "ai-drug", "Role": "mlflow-data"}
# moto keeps state per region: each test gets a region of its own, untouched by the rest of the suite, among
# those where moto can start instances.
_REGIONS = iter(
    region
    for region in sorted(INSTANCE_TYPE_OFFERINGS["region"])
    if region in boto3.Session().get_available_regions("ec2") and region not in {"eu-west-1", "us-east-1"}
)
NOW = datetime(2026, 6, 1)


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


class Account:
    """One moto region with helpers to make volumes and snapshots at chosen times."""

    def __init__(self, region: str, clock: dict[str, datetime]):
        self.region = region
        self.ec2 = boto3.client("ec2", region_name=region)
        self.zone = f"{region}a"
        self._clock = clock

    def volume(self, tags: dict[str, str] | None = None) -> str:
        specs = [{"ResourceType": "volume", "Tags": tag_list(tags)}] if tags else []
        volume = self.ec2.create_volume(AvailabilityZone=self.zone, Size=20, TagSpecifications=specs)
        return volume["VolumeId"]

    def snapshot(self, volume: str, tags: dict[str, str] | None, days_ago: int) -> str:
        specs = [{"ResourceType": "snapshot", "Tags": tag_list(tags)}] if tags else []
        self._clock["now"] = NOW - timedelta(days=days_ago)
        try:
            return self.ec2.create_snapshot(VolumeId=volume, TagSpecifications=specs)["SnapshotId"]
        finally:
            self._clock["now"] = NOW

    def image_snapshot(self, instance: str, tags: dict[str, str], days_ago: int) -> str:
        """The snapshot behind a new image of `instance`: AWS refuses to delete it while the image exists."""
        self._clock["now"] = NOW - timedelta(days=days_ago)
        try:
            image = self.ec2.create_image(InstanceId=instance, Name=f"image-{days_ago}")["ImageId"]
        finally:
            self._clock["now"] = NOW
        described = self.ec2.describe_images(ImageIds=[image])["Images"][0]
        snapshot_id = next(m["Ebs"]["SnapshotId"] for m in described["BlockDeviceMappings"] if "Ebs" in m)
        self.ec2.create_tags(Resources=[snapshot_id], Tags=tag_list(tags))
        return snapshot_id

    def snapshot_ids(self) -> set[str]:
        return {snap["SnapshotId"] for snap in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}

    def tags_of(self, snapshot_id: str) -> dict[str, str]:
        snap = self.ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
        return {tag["Key"]: tag["Value"] for tag in snap.get("Tags", [])}

    def instance(self, data_volume: str) -> str:
        placement = {"AvailabilityZone": self.zone}
        started = self.ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.small", Placement=placement
        )
        instance = started["Instances"][0]["InstanceId"]
        self.ec2.attach_volume(VolumeId=data_volume, InstanceId=instance, Device="/dev/sdf")
        return instance


@pytest.fixture
def account(moto_endpoint: str, monkeypatch) -> Account:
    """A fresh moto region whose EBS clock the test sets, so that snapshots are days apart as in real use."""
    import moto.ec2.models.elastic_block_store as ebs

    clock = {"now": NOW}
    monkeypatch.setattr(ebs, "utcnow", lambda: clock["now"])
    # Without moto's sample AMIs (and their ~1,100 snapshots) a region starts empty and in milliseconds.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    return Account(next(_REGIONS), clock)
