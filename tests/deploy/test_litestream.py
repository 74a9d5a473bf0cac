"""Litestream beside the MLflow server: the compose service, its image, its IAM grant and its settings agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.settings import load_settings
from ops.store import LITESTREAM_PIN
from trainer.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]


def test_litestream_replicates_the_servers_database_to_the_prefix_terraform_names(compose: dict[str, Any], terraform):
    server, replicator = compose["services"]["mlflow"], compose["services"]["litestream"]
    database = next(word for word in server["command"] if word.startswith("--backend-store-uri=")).split(":///")[1]
    command = replicator["command"]
    assert command[:3] == ["litestream", "replicate", database]
    prefix = terraform.locals["store_replica_prefix"]
    assert command[3] == f"s3://${{MLFLOW_ARTIFACTS_BUCKET:?set MLFLOW_ARTIFACTS_BUCKET in .env}}/{prefix}/mlruns.db"
    assert terraform.outputs["store_replica_url"]["value"].endswith("/${local.store_replica_prefix}/mlruns.db")
    # Same files, same owner, same image (which carries the binary), and started once the database exists.
    assert replicator["volumes"] == server["volumes"]
    assert replicator["user"] == server["user"] and replicator["restart"] == "always"
    assert (replicator["image"], replicator["build"]) == (server["image"], server["build"])
    assert replicator["depends_on"] == {"mlflow": {"condition": "service_healthy"}}


def test_the_server_image_installs_the_pinned_litestream(server_image) -> None:
    pins = [line for line in (ROOT / "requirements-dev.txt").read_text().splitlines() if line.startswith("litestream")]
    assert pins == [LITESTREAM_PIN]
    assert LITESTREAM_PIN in " ".join(server_image[-1].all("RUN"))


def test_the_instance_role_may_touch_the_replica_prefix_only_for_litestream(terraform) -> None:
    statements = {statement["sid"]: statement for statement in terraform.policy("host")}
    listing, files = statements["ListStoreReplica"], statements["ReadWriteStoreReplica"]
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["${local.store_replica_prefix}/*"]}
    ]
    assert files["actions"] == ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    assert files["resources"] == ["${aws_s3_bucket.artifacts.arn}/${local.store_replica_prefix}/*"]


def test_the_replica_setting_is_empty_until_terraform_names_it_and_then_an_s3_url() -> None:
    document = yaml.safe_load((ROOT / "invoke.yaml").read_text())
    assert load_settings(document, {}).store.replica_url == ""
    document["store"]["replica_url"] = "https://example.com/mlruns.db"
    with pytest.raises(
        BadInput, match=r"^invoke.yaml: store.replica_url: 'https://example.com/mlruns.db' is not an s3"
    ):
        load_settings(document, {})
