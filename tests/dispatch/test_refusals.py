"""Every value bound for the host script is checked first: a hostile one is exit 2, one line, nothing sent.
invoke.yaml's values are checked once, into typed settings, naming the file or the INVOKE_* variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from ops import commands
from ops.settings import check_overrides
from tests.ops_fixtures import SHA, run_command
from trainer.errors import BadInput


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

    code = run_command(commands.dispatch, settings, root=project_root, sha=SHA)

    errors = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(errors) == 1 and errors[0].startswith(f"error: invoke.yaml: {section}.{key}: "), errors


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
    code = run_command(commands.dispatch, settings, root=project_root, **flags)

    errors = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(errors) == 1 and errors[0].startswith(f"error: {flag}: "), errors


def test_a_lock_wait_longer_than_the_run_is_refused(settings, project_root, no_aws, capsys):
    settings["dispatch"].update(execution_timeout=600, lock_timeout=600)

    assert run_command(commands.dispatch, settings, root=project_root, sha=SHA) == 2

    assert capsys.readouterr().err.startswith("error: invoke.yaml: dispatch.lock_timeout: 600 s must be below")


def test_dry_run_prints_the_script_and_the_request_and_sends_nothing(settings, project_root, no_aws, capsys):
    settings["aws"]["log_group"] = "/ai-drug/dispatch"

    flags = {"sha": SHA[:12], "configs": ["configs/xgb.yaml"], "dry_run": True}
    assert run_command(commands.dispatch, settings, root=project_root, **flags) == 0

    out = capsys.readouterr().out
    script, request = out[: out.rindex("\n{\n") + 1], json.loads(out[out.rindex("\n{\n") :])
    assert script.startswith("#!/bin/bash\n")
    assert "readonly -a TRAIN_ARGS=(--config configs/xgb.yaml)\n" in script
    assert f"readonly IMAGE=ghcr.io/ai-drug/ai-drug-trainer:{SHA}\n" in script
    assert request == {
        "InstanceIds": ["i-0123456789abcdef0"],
        "DocumentName": "AWS-RunShellScript",
        "Comment": f"train ai-drug-trainer@{SHA[:12]} (xgb)",
        "Parameters": {"commands": ["<the host script>"], "executionTimeout": ["14400"]},
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "/ai-drug/dispatch", "CloudWatchOutputEnabled": True},
    }


def test_the_invoke_task_exits_2_with_one_line(project_root):
    refused = subprocess.run(
        [sys.executable, "-m", "invoke", "dispatch", "--sha", SHA[:7], "--config", "../x", "--dry-run"],
        cwd=project_root,
        env={**os.environ, "INVOKE_AWS_INSTANCE_ID": "i-0123456789abcdef0"},
        capture_output=True,
        text=True,
    )

    assert refused.returncode == 2
    assert refused.stderr == "error: --config: '../x' is not a config name such as xgb or configs/xgb.yaml\n"
    assert refused.stdout == ""


def test_an_unreadable_whole_number_override_exits_2_naming_the_variable(project_root):
    refused = subprocess.run(
        [sys.executable, "-m", "invoke", "dispatch", "--sha", SHA[:7], "--dry-run"],
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
        with pytest.raises(BadInput, match=f"^{variable}: '1.5' is not a whole"):
            check_overrides({variable: "1.5"})
        check_overrides({variable: "-3"})
    # Text keys take any text; the settings judge it.
    check_overrides({"INVOKE_AWS_REGION": "1.5", "INVOKE_IMAGE_OWNER": "x"})


def invoke_task(project_root, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=project_root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )


def test_a_bad_value_in_invoke_yaml_is_one_line_naming_the_file_and_key(project_root, tmp_path):
    """A copy of the project's task files with one bad value: every task refuses it before doing anything."""
    for name in ("tasks.py", "invoke.yaml"):
        (tmp_path / name).write_text((project_root / name).read_text())
    config = tmp_path / "invoke.yaml"
    config.write_text(config.read_text().replace("poll_interval: 10 ", "poll_interval: 0  "))
    env = {"PYTHONPATH": str(project_root), "INVOKE_AWS_INSTANCE_ID": "i-0123456789abcdef0"}

    for task in (["dispatch", "--sha", SHA[:7], "--dry-run"], ["push", "--sha", SHA[:7], "--dry-run"]):
        refused = invoke_task(tmp_path, *task, **env)

        assert (refused.returncode, refused.stdout) == (2, "")
        assert refused.stderr == (
            "error: invoke.yaml: dispatch.poll_interval: 0 is not a whole number of seconds from 1 to 3600\n"
        )


@pytest.mark.parametrize(
    ("task", "variable", "value", "message"),
    [
        (["train"], "INVOKE_TRAIN_LOCK_TIMEOUT", "-1", "train.lock_timeout: -1 is not a whole number of seconds >= 0"),
        (
            ["dispatch", "--sha", SHA[:7], "--dry-run"],
            "INVOKE_DISPATCH_LOCK_TIMEOUT",
            "14400",
            "dispatch.lock_timeout: 14400 s must be below dispatch.execution_timeout (14400 s), "
            "or the host script's waits outlive the run",
        ),
        (["push", "--dry-run"], "INVOKE_AWS_REGION", "eu-west-1;id", "aws.region: 'eu-west-1;id' is not an AWS region"),
        (
            ["maintenance.vacuum", "--db", "x.db"],
            "INVOKE_MAINTENANCE_BACKUPS_KEPT",
            "0",
            "maintenance.backups_kept: 0 ",
        ),
    ],
)
def test_a_bad_override_is_one_line_naming_the_variable_and_key(project_root, task, variable, value, message):
    env = {"INVOKE_AWS_INSTANCE_ID": "i-0123456789abcdef0", variable: value}

    refused = invoke_task(project_root, *task, **env)

    assert (refused.returncode, refused.stdout) == (2, "")
    assert len(refused.stderr.splitlines()) == 1
    assert refused.stderr.startswith(f"error: {variable}: {message}"), refused.stderr
