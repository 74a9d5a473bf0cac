"""Dispatch over SSM: the happy path on moto's server; what moto cannot produce, with botocore's Stubber."""

from __future__ import annotations

import io
import itertools

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ops import commands, ssm
from ops.images import ImageRef
from ops.training_job import train_job
from ops.transport import Polling, RemoteError
from tests.ops_fixtures import SHA, Sleeps, invoke_yaml, run_command, typed

INSTANCE = "i-0123456789abcdef0"
COMMAND = "11111111-2222-3333-4444-555555555555"
ANY_SEND = {"DocumentName": "AWS-RunShellScript", "Comment": ANY, "Parameters": ANY}


def test_dispatch_through_moto_sends_the_rendered_script(
    moto_endpoint, managed_instance, settings, project_root, capsys
):
    instance = boto3.client("ec2", region_name="eu-west-1").run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]
    managed_instance(instance)
    settings["aws"]["instance_id"] = instance
    sleeps = Sleeps()

    code = run_command(
        commands.dispatch,
        settings,
        root=project_root,
        sha=SHA,
        configs=["xgb"],
        polling=Polling(interval=10, sleep=sleeps),
    )

    assert code == 0
    shown = capsys.readouterr()
    (sent,) = boto3.client("ssm", region_name="eu-west-1").list_commands(InstanceId=instance)["Commands"]
    assert shown.out.strip().endswith(f"SSM command {sent['CommandId']}: Success")
    assert sent["DocumentName"] == "AWS-RunShellScript"
    assert sent["Comment"] == f"train ai-drug-trainer@{SHA[:12]} (xgb)"
    expected = train_job(ImageRef("ghcr.io", "ai-drug", "ai-drug-trainer", SHA), ["xgb"], typed(invoke_yaml())).script()
    assert sent["Parameters"] == {"commands": [expected], "executionTimeout": ["14400"]}
    assert "--config configs/xgb.yaml" in expected and "readonly LOCK_FILE=/opt/mlflow/train.lock" in expected
    assert sleeps == []


def stubbed() -> tuple[object, Stubber]:
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def expect_online(stubber: Stubber, ping: str = "Online") -> None:
    stubber.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [{"InstanceId": INSTANCE, "PingStatus": ping}]},
        {"Filters": [{"Key": "InstanceIds", "Values": [INSTANCE]}]},
    )


def expect_send(stubber: Stubber, log_group: str = "") -> None:
    stubber.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND}},
        ssm.request(INSTANCE, "echo hi", comment="train x", execution_timeout=600, log_group=log_group),
    )


def expect_invocation(stubber: Stubber, status: str, details: str = "", code: int = -1, out: str = "") -> None:
    response = {
        "CommandId": COMMAND,
        "InstanceId": INSTANCE,
        "Status": status,
        "StatusDetails": details or status,
        "ResponseCode": code,
        "StandardOutputContent": out,
        "StandardErrorContent": "",
    }
    stubber.add_response("get_command_invocation", response, {"CommandId": COMMAND, "InstanceId": INSTANCE})


def expect_not_listed(stubber: Stubber, times: int) -> None:
    for _ in range(times):
        stubber.add_client_error("get_command_invocation", "InvocationDoesNotExist")


def run(client, *, log_group: str = "", polling: Polling | None = None):
    out, err = io.StringIO(), io.StringIO()
    result = ssm.run_script(
        client,
        INSTANCE,
        "echo hi",
        comment="train x",
        execution_timeout=600,
        log_group=log_group,
        polling=polling or Polling(interval=10, sleep=Sleeps()),
        out=out,
        err=err,
    )
    return result, out.getvalue(), err.getvalue()


def test_a_failed_script_passes_its_exit_code_and_output_on():
    client, stubber = stubbed()
    expect_online(stubber)
    expect_send(stubber, log_group="/ai-drug/dispatch")
    expect_invocation(stubber, "InProgress", "In Progress")
    expect_invocation(stubber, "Failed", code=3, out="training container exited 3\n")
    sleeps = Sleeps()

    with stubber:
        result, out, err = run(client, log_group="/ai-drug/dispatch", polling=Polling(interval=10, sleep=sleeps))

    assert (result.exit_code, result.summary) == (3, f"SSM command {COMMAND}: Failed, exit code 3")
    assert out == "training container exited 3\n"
    assert f"SSM command {COMMAND}: InProgress" in err
    assert sleeps == [10]
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("status", "details", "name"),
    [
        ("TimedOut", "Execution Timed Out", "TimedOut"),
        ("TimedOut", "Delivery Timed Out", "DeliveryTimedOut"),
        ("Cancelled", "Cancelled", "Cancelled"),
        ("Failed", "Undeliverable", "Undeliverable"),
    ],
)
def test_a_run_that_never_finished_is_exit_1_naming_the_final_status(status, details, name):
    client, stubber = stubbed()
    expect_online(stubber)
    expect_send(stubber)
    expect_invocation(stubber, status, details, code=-1)

    with stubber:
        result, _, _ = run(client)

    assert (result.exit_code, result.summary) == (1, f"SSM command {COMMAND}: {name}, exit code -1")


def test_invocation_does_not_exist_is_retried_with_bounded_backoff():
    client, stubber = stubbed()
    expect_online(stubber)
    expect_send(stubber)
    expect_not_listed(stubber, 3)
    expect_invocation(stubber, "Success", code=0, out="done\n")
    sleeps = Sleeps()

    with stubber:
        result, out, _ = run(client, polling=Polling(interval=10, not_found_delays=(1, 2, 4, 8), sleep=sleeps))

    assert (result.exit_code, out) == (0, "done\n")
    assert sleeps == [1, 2, 4]


def test_a_command_that_never_shows_up_is_given_up_after_the_backoff():
    client, stubber = stubbed()
    expect_online(stubber)
    expect_send(stubber)
    expect_not_listed(stubber, 3)
    sleeps = Sleeps()

    with (
        stubber,
        pytest.raises(RemoteError, match=f"SSM never listed command {COMMAND} on {INSTANCE} after 3 s"),
    ):
        run(client, polling=Polling(interval=10, not_found_delays=(1, 2), sleep=sleeps))

    assert sleeps == [1, 2]


def test_a_run_past_every_timeout_is_given_up():
    client, stubber = stubbed()
    expect_online(stubber)
    expect_send(stubber)
    expect_invocation(stubber, "InProgress")
    hours = itertools.count(0, 3600)

    with stubber, pytest.raises(RemoteError, match="still InProgress past the execution timeout"):
        run(client, polling=Polling(interval=10, sleep=Sleeps(), clock=lambda: next(hours) * 2))


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        ([], f"{INSTANCE} is not a managed instance in SSM"),
        (
            [{"InstanceId": INSTANCE, "PingStatus": "ConnectionLost"}],
            "its agent is ConnectionLost, not Online",
        ),
    ],
)
def test_an_instance_that_is_not_managed_and_online_gets_nothing_sent(listing, message):
    client, stubber = stubbed()
    stubber.add_response("describe_instance_information", {"InstanceInformationList": listing})

    with stubber, pytest.raises(RemoteError, match=message):
        run(client)

    stubber.assert_no_pending_responses()


def test_output_cut_by_ssm_is_noted_with_where_to_find_the_rest():
    client, stubber = stubbed()
    expect_online(stubber)
    expect_send(stubber, log_group="/ai-drug/dispatch")
    expect_invocation(stubber, "Success", code=0, out="x" * 23_980 + "\n--output truncated--")

    with stubber:
        result, _, err = run(client, log_group="/ai-drug/dispatch")

    assert result.exit_code == 0
    assert "SSM kept only the first 24,000 characters of stdout" in err
    assert f"CloudWatch log group /ai-drug/dispatch, stream {COMMAND}/" in err


def test_the_task_exits_with_the_remote_exit_code_and_one_line(settings, project_root, monkeypatch, capsys):
    client, stubber = stubbed()
    stubber.add_response("describe_instance_information", {"InstanceInformationList": [{"PingStatus": "Online"}]})
    stubber.add_response("send_command", {"Command": {"CommandId": COMMAND}}, {"InstanceIds": [INSTANCE], **ANY_SEND})
    expect_invocation(stubber, "Failed", code=3, out="boom\n")
    monkeypatch.setattr(boto3, "client", lambda *_, **__: client)
    settings["aws"]["instance_id"] = INSTANCE

    with stubber:
        code = run_command(
            commands.dispatch, settings, root=project_root, sha=SHA, polling=Polling(interval=1, sleep=Sleeps())
        )

    assert code == 3
    assert capsys.readouterr().err.splitlines()[-1] == f"SSM command {COMMAND}: Failed, exit code 3"
