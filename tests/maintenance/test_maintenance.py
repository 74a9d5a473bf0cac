"""`invoke maintenance`: the host script over SSM (moto, with the script run here by bash and the stand-ins where
moto has no agent), then the EBS snapshot in moto's EC2; a remote failure with botocore's Stubber."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ops import commands
from ops.host_pull import ImagePull
from ops.images import ImageRef
from ops.maintenance_job import MaintenanceJob
from ops.transport import Polling
from tests.maintenance.ec2_account import APP_TAGS, Account
from tests.ops_fixtures import SHA, Sleeps, Standins, run_command

REPORT = {
    "backup": "/opt/mlflow/mlruns.db.backup-20260601T000000.000000Z",
    "backups_deleted": [],
    "bytes_after": 356_352,
    "bytes_before": 1_466_368,
    "db": "/opt/mlflow/mlruns.db",
    "integrity": "ok",
    "seconds": 0.5,
}
COMMAND = "11111111-2222-3333-4444-555555555555"
INSTANCE = "i-0123456789abcdef0"


@pytest.fixture
def ssm_agent(aws_session: boto3.session.Session, standins: Standins) -> list[subprocess.CompletedProcess[str]]:
    """The part of SSM that moto lacks: each script sent runs here, by bash with the stand-ins first on PATH,
    and get_command_invocation answers with its output and exit code. Returns the runs."""
    runs: list[subprocess.CompletedProcess[str]] = []

    def run_sent(params: dict, **_) -> None:
        script = params["Parameters"]["commands"][0]
        process = standins.start(script)
        out, err = process.communicate(timeout=60)
        runs.append(subprocess.CompletedProcess(script, process.returncode, out, err))

    def answer(parsed: dict, **_) -> None:
        status = "Success" if runs[-1].returncode == 0 else "Failed"
        parsed.update(
            Status=status,
            StatusDetails=status,
            ResponseCode=runs[-1].returncode,
            StandardOutputContent=runs[-1].stdout,
            StandardErrorContent=runs[-1].stderr,
        )

    aws_session.events.register("before-parameter-build.ssm.SendCommand", run_sent)
    aws_session.events.register("after-call.ssm.GetCommandInvocation", answer)
    return runs


@pytest.fixture
def host(account: Account, managed_instance, settings: dict, standins: Standins, tmp_path: Path):
    """The training host in a fresh moto region: an SSM-managed instance with the tagged MLflow volume, three
    earlier snapshots of it and one of another app; its data folder (a store) in tmp_path."""
    data = account.volume(APP_TAGS)
    instance = account.instance(data)
    managed_instance(instance)
    ours = [account.snapshot(data, APP_TAGS, days_ago=day) for day in (1, 2, 3)]
    stranger = account.snapshot(data, {"App": "other-app", "Role": "mlflow-data"}, days_ago=9)
    data_dir = tmp_path / "mlflow"
    data_dir.mkdir()
    (data_dir / "mlruns.db").write_bytes(b"SQLite format 3\x00")
    settings["aws"].update(region=account.region, instance_id=instance)
    settings["host"]["data_dir"] = str(data_dir)
    settings["maintenance"].update(snapshots_kept=2, lock_timeout=0)
    standins.set("run_stdout", f"vacuum-report {json.dumps(REPORT)}")
    return account, data, ours, stranger


def maintain(settings: dict, project_root: Path, **flags: object) -> int:
    polling = Polling(interval=1, sleep=Sleeps())
    return run_command(commands.maintenance, settings, root=project_root, sha=SHA, polling=polling, **flags)


def sent_commands(account: Account) -> list[dict]:
    return boto3.client("ssm", region_name=account.region).list_commands()["Commands"]


def test_vacuum_on_the_host_then_a_snapshot_of_the_compacted_store(
    host, ssm_agent, settings, standins, project_root, capsys
):
    account, data, ours, stranger = host

    code = maintain(settings, project_root)

    shown = capsys.readouterr()
    assert code == 0, shown.err
    (sent,) = sent_commands(account)
    expected = MaintenanceJob(
        pull=ImagePull(ImageRef("ghcr.io", "ai-drug", "ai-drug-trainer", SHA), account.region, "/ghcr/ro-token"),
        data_dir=settings["host"]["data_dir"],
        backups_kept=3,
        lock_timeout=0,
        busy_timeout=60,
        health_url="http://localhost:5000/health",
        health_timeout=120,
    )
    assert sent["Parameters"] == {"commands": [expected.script()], "executionTimeout": ["3600"]}
    assert sent["Comment"] == expected.comment()[:100]
    assert sent["Comment"].startswith(f"maintenance ai-drug-trainer@{SHA[:12]} (")
    (ran,) = ssm_agent
    assert ran.returncode == 0, ran.stderr
    steps = [" ".join(command[:3]) for command in standins.commands()]
    assert steps == [
        *("aws ssm get-parameter", "docker login --username", "docker pull --quiet"),
        *("docker compose -p", "docker run --rm", "docker compose -p", "curl -fsS --max-time"),
    ]
    new = (account.snapshot_ids() - set(ours) - {stranger}).pop()
    assert account.snapshot_ids() == {new, ours[0], stranger}
    described = account.ec2.describe_snapshots(SnapshotIds=[new])["Snapshots"][0]
    assert described["VolumeId"] == data
    tags = account.tags_of(new)
    assert (tags["DatabaseBytes"], tags["Reason"]) == ("356352", "invoke maintenance")
    summary = shown.out[shown.out.index("maintenance summary:") :].splitlines()
    assert summary[1:6] == [
        "database: /opt/mlflow/mlruns.db",
        "integrity: ok before and after",
        "size: 1,466,368 -> 356,352 bytes (freed 1,110,016)",
        "backup: /opt/mlflow/mlruns.db.backup-20260601T000000.000000Z",
        "seconds: 0.50",
    ]
    assert summary[7].startswith(f"snapshot {new} of {data} completed, tags App=ai-drug, DatabaseBytes=356352")
    assert summary[8:] == [f"snapshots deleted: {ours[1]}, {ours[2]}"]
    assert shown.out.count("maintenance summary:") == 1


def test_over_ssh_the_same_script_runs_and_the_snapshot_follows(
    host, ssh_server, settings, standins, project_root, capsys
):
    account, data, ours, _ = host

    code = maintain(settings, project_root, host=ssh_server.destination)

    shown = capsys.readouterr()
    assert code == 0, shown.err
    assert sent_commands(account) == []
    assert [command[:2] for command in standins.commands()][3:5] == [["docker", "compose"], ["docker", "run"]]
    assert f"ssh {ssh_server.destination}: Success, exit code 0" in shown.out
    summary = shown.out[shown.out.index("maintenance summary:") :].splitlines()
    assert summary[3] == "size: 1,466,368 -> 356,352 bytes (freed 1,110,016)"
    new = summary[7].split()[1]
    assert summary[7].startswith(f"snapshot {new} of {data} completed")
    assert account.tags_of(new)["DatabaseBytes"] == "356352"
    assert summary[8] == f"snapshots deleted: {ours[1]}, {ours[2]}"


def test_a_snapshot_that_fails_after_the_vacuum_keeps_the_vacuum_summary_and_exits_1(
    host, ssm_agent, settings, project_root, capsys
):
    """Retention meets a snapshot that an image still uses: the new snapshot stays, the error says what was done."""
    account, _, ours, _ = host
    in_use = account.image_snapshot(settings["aws"]["instance_id"], APP_TAGS, days_ago=5)

    code = maintain(settings, project_root)

    shown = capsys.readouterr()
    assert code == 1
    summary = shown.out[shown.out.index("maintenance summary:") :].splitlines()
    assert summary[4] == f"backup: {REPORT['backup']}"
    new = shown.err.splitlines()[-1].split()[2]
    assert shown.err.splitlines()[-1] == (
        f"error: snapshot {new} completed, but deleting {in_use} failed (InvalidSnapshot.InUse); "
        f"deleted before it: {ours[1]}, {ours[2]}"
    )
    assert {new, ours[0], in_use} <= account.snapshot_ids()


def test_a_failed_vacuum_over_moto_restarts_mlflow_and_takes_no_snapshot(
    host, ssm_agent, settings, standins, project_root, capsys
):
    account, *_ = host
    before = account.snapshot_ids()
    standins.set("run_exit", 1)
    (standins.folder / "run_stdout").unlink()

    code = maintain(settings, project_root)

    assert code == 1
    assert account.snapshot_ids() == before
    assert [command[:2] for command in standins.commands()][-3:] == [
        ["docker", "run"],
        ["docker", "compose"],
        ["curl", "-fsS"],
    ]
    (sent,) = sent_commands(account)
    shown = capsys.readouterr()
    assert shown.err.splitlines()[-1] == (
        f"error: host maintenance did not succeed (SSM command {sent['CommandId']}: Failed, exit code 1); "
        "no snapshot taken"
    )
    assert "maintenance summary" not in shown.out


def test_a_remote_failure_takes_no_snapshot_and_ends_with_one_line(settings, project_root, monkeypatch, capsys):
    """The vacuum exits 1 on the host: the exit code comes back, and no EC2 client is even made."""
    ssm = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(ssm)
    stubber.add_response("describe_instance_information", {"InstanceInformationList": [{"PingStatus": "Online"}]})
    sent = {"InstanceIds": [INSTANCE], "DocumentName": "AWS-RunShellScript", "Comment": ANY, "Parameters": ANY}
    stubber.add_response("send_command", {"Command": {"CommandId": COMMAND}}, sent)
    failed = {
        "Status": "Failed",
        "StatusDetails": "Failed",
        "ResponseCode": 1,
        "StandardOutputContent": "pulling ...\nmlflow answers http://localhost:5000/health again\n",
        "StandardErrorContent": "/opt/mlflow/mlruns.db: another connection is writing; waited 60 s\n",
    }
    stubber.add_response("get_command_invocation", failed, {"CommandId": COMMAND, "InstanceId": INSTANCE})

    def client(service: str, **_):
        if service != "ssm":
            pytest.fail(f"a {service} client was made after the vacuum failed")
        return ssm

    monkeypatch.setattr(boto3, "client", client)
    settings["aws"]["instance_id"] = INSTANCE

    with stubber:
        code = maintain(settings, project_root)

    assert code == 1
    shown = capsys.readouterr()
    errors = [line for line in shown.err.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: host maintenance did not succeed (SSM command {COMMAND}: Failed, exit code 1); no snapshot taken"
    ]
    assert shown.err.splitlines()[-1] == errors[0]
    assert "another connection is writing" in shown.err
    assert "maintenance summary" not in shown.out
    stubber.assert_no_pending_responses()


def test_output_without_a_report_line_takes_no_snapshot(host, ssm_agent, settings, standins, project_root, capsys):
    account, *_ = host
    before = account.snapshot_ids()
    (standins.folder / "run_stdout").unlink()

    assert maintain(settings, project_root) == 1

    assert account.snapshot_ids() == before
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith("error: host maintenance succeeded but its output holds no 'vacuum-report' line")
    )


def test_dry_run_prints_the_script_the_request_and_the_snapshot_plan(host, settings, project_root, capsys):
    account, data, ours, _ = host
    before = account.snapshot_ids()

    assert maintain(settings, project_root, dry_run=True) == 0

    out = capsys.readouterr().out
    assert out.startswith("#!/bin/bash\n")
    assert "readonly DB=" in out and "pull_image\n" in out
    assert '"DocumentName": "AWS-RunShellScript"' in out
    assert '"executionTimeout": [\n      "3600"' in out
    plan = out[out.index("after a successful vacuum:") :].splitlines()
    assert plan[1].startswith(f"would snapshot {data} with tags App=ai-drug, DatabaseBytes=unknown, ")
    assert plan[2:] == [line for line in plan[2:] if line.startswith("would delete snap-")]
    assert [line.split()[2] for line in plan[2:]] == ours[1:]
    assert sent_commands(account) == []
    assert account.snapshot_ids() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha": ""}, "--sha: '' is not a git commit SHA"),
        ({"sha": "0123456; id"}, "--sha: '0123456; id' is not a git commit SHA"),
        ({"host": "-oProxyCommand=id"}, "--host: "),
        (("maintenance", "health_url", "http://localhost:5000/$(id)"), "invoke.yaml: maintenance.health_url: "),
        (
            ("maintenance", "snapshots_kept", 0),
            "invoke.yaml: maintenance.snapshots_kept: 0 is not a whole number from 1 to 1000",
        ),
        (("maintenance", "execution_timeout", 900), "invoke.yaml: maintenance.lock_timeout (twice) + busy_timeout + "),
        (("host", "data_dir", "/opt/mlflow data"), "invoke.yaml: host.data_dir: "),
    ],
)
def test_bad_input_is_exit_2_with_one_line_and_nothing_sent(settings, project_root, no_aws, capsys, change, message):
    settings["aws"]["instance_id"] = INSTANCE
    flags = {"sha": SHA}
    if isinstance(change, dict):
        flags.update(change)
    else:
        section, key, value = change
        settings[section][key] = value

    code = run_command(commands.maintenance, settings, root=project_root, **flags)

    shown = capsys.readouterr()
    assert (code, shown.out) == (2, "")
    assert len(shown.err.splitlines()) == 1 and shown.err.startswith(f"error: {message}"), shown.err


def test_invoke_maintenance_is_the_composite_and_refuses_a_missing_sha(project_root):
    refused = subprocess.run(
        [sys.executable, "-m", "invoke", "maintenance", "--dry-run"],
        cwd=project_root,
        env={**os.environ, "INVOKE_AWS_INSTANCE_ID": INSTANCE},
        capture_output=True,
        text=True,
    )

    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == "error: --sha: '' is not a git commit SHA (7 to 40 hex characters)\n"
