"""Every value bound for the host script is checked first: a hostile one is exit 2, one line, nothing sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from ops import cli
from ops.env_overrides import refused_override

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def settings(settings: dict) -> dict:
    settings["aws"]["instance_id"] = "i-0123456789abcdef0"
    return settings


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("image", "owner", "ai-drug;id"),
        ("image", "name", "trainer $(id)"),
        ("image", "registry", "ghcr.io`id`"),
        ("aws", "instance_id", "i-0123456789abcdef0; id"),
        ("aws", "region", "eu-west-1 && id"),
        ("aws", "token_parameter", "/ghcr/ro-token'; id; '"),
        ("aws", "log_group", "group\nid"),
        ("dispatch", "execution_timeout", "14400; id"),
        ("dispatch", "execution_timeout", 999_999),
        ("dispatch", "lock_timeout", -1),
        ("dispatch", "poll_interval", "0"),
        ("host", "data_dir", "/opt/$(id)"),
        ("host", "data_dir", "relative/dir"),
        ("host", "network", "mlflow_default --privileged"),
        ("host", "tracking_uri", "http://mlflow:5000/$(id)"),
    ],
)
def test_a_hostile_setting_is_refused_naming_its_key(settings, project_root, no_aws, capsys, section, key, value):
    settings[section][key] = value

    code = cli.dispatch(settings, root=project_root, sha=SHA)

    errors = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(errors) == 1 and errors[0].startswith(f"error: {section}.{key}: "), errors


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        ({"sha": "0123456; id"}, "--sha"),
        ({"sha": ""}, "--sha"),
        ({"sha": SHA, "configs": ["xgb", "x$(id)"]}, "--config"),
        ({"sha": SHA, "configs": ["../../etc/passwd"]}, "--config"),
        ({"sha": SHA, "configs": ["-v"]}, "--config"),
        ({"sha": SHA, "host": "me@box;id"}, "--host"),
        ({"sha": SHA, "host": "-oProxyCommand=id"}, "--host"),
    ],
)
def test_a_hostile_flag_is_refused_naming_it(settings, project_root, no_aws, capsys, flags, flag):
    code = cli.dispatch(settings, root=project_root, **flags)

    errors = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(errors) == 1 and errors[0].startswith(f"error: {flag}: "), errors


def test_a_lock_wait_longer_than_the_run_is_refused(settings, project_root, no_aws, capsys):
    settings["dispatch"].update(execution_timeout=600, lock_timeout=600)

    assert cli.dispatch(settings, root=project_root, sha=SHA) == 2

    assert capsys.readouterr().err.startswith("error: dispatch.lock_timeout: 600 s must be below")


def test_dry_run_prints_the_script_and_the_request_and_sends_nothing(settings, project_root, no_aws, capsys):
    settings["aws"]["log_group"] = "/ai-drug/dispatch"

    assert (
        cli.dispatch(settings, root=project_root, sha=SHA[:12], configs=["configs/solubility/xgb.yaml"], dry_run=True)
        == 0
    )

    out = capsys.readouterr().out
    script, request = out[: out.rindex("\n{\n") + 1], json.loads(out[out.rindex("\n{\n") :])
    assert script.startswith("#!/bin/bash\n")
    assert "readonly -a TRAIN_ARGS=(--config configs/solubility/xgb.yaml)\n" in script
    assert f"readonly IMAGE=ghcr.io/ai-drug/ai-drug-trainer:{SHA[:12]}\n" in script
    assert request == {
        "InstanceIds": ["i-0123456789abcdef0"],
        "DocumentName": "AWS-RunShellScript",
        "Comment": f"train ai-drug-trainer@{SHA[:12]} (solubility/xgb)",
        "Parameters": {"commands": ["<the host script>"], "executionTimeout": ["14400"]},
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "/ai-drug/dispatch", "CloudWatchOutputEnabled": True},
    }


def test_the_invoke_task_exits_2_with_one_line(project_root):
    refused = subprocess.run(
        [sys.executable, "-m", "invoke", "dispatch", "--sha", "abcdef1", "--config", "../x", "--dry-run"],
        cwd=project_root,
        env={**os.environ, "INVOKE_AWS_INSTANCE_ID": "i-0123456789abcdef0"},
        capture_output=True,
        text=True,
    )

    assert refused.returncode == 2
    assert (
        refused.stderr
        == "error: --config: '../x' is not a config name such as solubility/xgb or configs/solubility/xgb.yaml\n"
    )
    assert refused.stdout == ""


def test_an_unreadable_whole_number_override_exits_2_naming_the_variable(project_root):
    refused = subprocess.run(
        [sys.executable, "-m", "invoke", "dispatch", "--sha", "abcdef1", "--dry-run"],
        cwd=project_root,
        env={**os.environ, "INVOKE_AWS_INSTANCE_ID": "i-0123456789abcdef0", "INVOKE_DISPATCH_POLL_INTERVAL": "10s"},
        capture_output=True,
        text=True,
    )

    assert refused.returncode == 2
    assert refused.stderr == (
        "error: INVOKE_DISPATCH_POLL_INTERVAL: '10s' is not a whole number (it overrides dispatch.poll_interval)\n"
    )
    assert refused.stdout == ""


def test_every_whole_number_key_of_invoke_yaml_is_guarded(project_root):
    config_file = project_root / "invoke.yaml"
    settings = yaml.safe_load(config_file.read_text())
    whole_numbers = [
        f"INVOKE_{section}_{key}".upper()
        for section, keys in settings.items()
        for key, value in keys.items()
        if isinstance(value, int)
    ]

    assert {"INVOKE_TRAIN_LOCK_TIMEOUT", "INVOKE_DISPATCH_POLL_INTERVAL", "INVOKE_MAINTENANCE_SNAPSHOTS_KEPT"} <= set(
        whole_numbers
    )
    for variable in whole_numbers:
        assert refused_override(config_file, {variable: "1.5"}).startswith(f"{variable}: '1.5' is not a whole"), (
            variable
        )
        assert refused_override(config_file, {variable: "-3"}) is None, variable
    # Text keys take any text; the task's own checks judge it.
    assert refused_override(config_file, {"INVOKE_AWS_REGION": "1.5", "INVOKE_IMAGE_OWNER": "x"}) is None
