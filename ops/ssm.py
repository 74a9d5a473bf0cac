"""SSM Run Command, the default target: check the instance, send a script with AWS-RunShellScript, poll it to
its end.

The command text is stored by SSM in plain text (command history, CloudTrail, the agent's folder on the
host), so scripts sent here carry no secrets: they fetch them on the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from ops.transport import Polling, RemoteError, RemoteResult, exit_code

DOCUMENT = "AWS-RunShellScript"
STDOUT_LIMIT = 24_000  # characters of stdout that get_command_invocation keeps
STDERR_LIMIT = 8_000
TRUNCATED_SUFFIX = "--output truncated--"
DELIVERY_TIMEOUT = 3600  # send_command's default TimeoutSeconds: how long SSM tries to deliver
_RUNNING = {"Pending", "InProgress", "Delayed", "Cancelling"}
# StatusDetails is the more precise word; these are the names printed for it.
_FINAL_NAMES = {"Execution Timed Out": "TimedOut", "Delivery Timed Out": "DeliveryTimedOut"}


@dataclass(frozen=True)
class SsmTarget:
    """An instance managed by SSM; output goes to CloudWatch too when a log group is named."""

    instance_id: str
    region: str
    log_group: str = ""
    polling: Polling = field(default_factory=Polling)

    def run(self, script: str, *, comment: str, execution_timeout: int, out: TextIO, err: TextIO) -> RemoteResult:
        import boto3

        return run_script(
            boto3.client("ssm", region_name=self.region),
            self.instance_id,
            script,
            comment=comment,
            execution_timeout=execution_timeout,
            log_group=self.log_group,
            polling=self.polling,
            out=out,
            err=err,
        )

    def describe(self, *, comment: str, execution_timeout: int) -> dict:
        return request(
            self.instance_id,
            "<the host script>",
            comment=comment,
            execution_timeout=execution_timeout,
            log_group=self.log_group,
        )


def request(instance_id: str, script: str, *, comment: str, execution_timeout: int, log_group: str) -> dict:
    """The keyword arguments of send_command."""
    kwargs: dict[str, Any] = {
        "InstanceIds": [instance_id],
        "DocumentName": DOCUMENT,
        "Comment": comment[:100],
        "Parameters": {"commands": [script], "executionTimeout": [str(execution_timeout)]},
    }
    if log_group:
        kwargs["CloudWatchOutputConfig"] = {
            "CloudWatchLogGroupName": log_group,
            "CloudWatchOutputEnabled": True,
        }
    return kwargs


def check_managed(client: Any, instance_id: str) -> None:
    """Raise RemoteError unless SSM manages the instance and its agent is online."""
    found = client.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    infos = found.get("InstanceInformationList", [])
    if not infos:
        raise RemoteError(
            f"{instance_id} is not a managed instance in SSM: check that its agent runs and its role has "
            "AmazonSSMManagedInstanceCore (aws.instance_id, aws.region)"
        )
    ping = infos[0].get("PingStatus", "unknown")
    if ping != "Online":
        raise RemoteError(f"{instance_id} is managed by SSM but its agent is {ping}, not Online: is it running?")


def run_script(
    client: Any,
    instance_id: str,
    script: str,
    *,
    comment: str,
    execution_timeout: int,
    log_group: str,
    polling: Polling,
    out: TextIO,
    err: TextIO,
) -> RemoteResult:
    """Check, send, wait, print the output; the result carries the script's exit code."""
    try:
        check_managed(client, instance_id)
        kwargs = request(instance_id, script, comment=comment, execution_timeout=execution_timeout, log_group=log_group)
        command_id = client.send_command(**kwargs)["Command"]["CommandId"]
        print(f"SSM command {command_id} sent to {instance_id}", file=err, flush=True)
        deadline = polling.clock() + DELIVERY_TIMEOUT + execution_timeout + 300
        invocation = wait(client, command_id, instance_id, polling=polling, deadline=deadline, err=err)
    except (ClientError, BotoCoreError) as error:
        raise RemoteError(f"SSM on {instance_id}: {error}") from error
    print_output(invocation, command_id, log_group, out=out, err=err)
    return outcome(invocation, command_id)


def wait(client: Any, command_id: str, instance_id: str, *, polling: Polling, deadline: float, err: TextIO) -> dict:
    """Poll get_command_invocation until the invocation ends; say each new status on `err`."""
    status = ""
    while True:
        invocation = invocation_when_listed(client, command_id, instance_id, polling)
        if invocation["Status"] != status:
            status = invocation["Status"]
            print(f"SSM command {command_id}: {status}", file=err, flush=True)
        if status not in _RUNNING:
            return invocation
        if polling.clock() >= deadline:
            raise RemoteError(
                f"SSM command {command_id} still {status} past the execution timeout; it may go on running"
            )
        polling.sleep(polling.interval)


def invocation_when_listed(client: Any, command_id: str, instance_id: str, polling: Polling) -> dict:
    """get_command_invocation, retrying InvocationDoesNotExist (SSM lists a new command with a delay)."""
    delays = iter(polling.not_found_delays)
    while True:
        try:
            return client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvocationDoesNotExist":
                raise
            delay = next(delays, None)
            if delay is None:
                raise RemoteError(
                    f"SSM never listed command {command_id} on {instance_id} after "
                    f"{sum(polling.not_found_delays):g} s of retries"
                ) from error
            polling.sleep(delay)


def print_output(invocation: dict, command_id: str, log_group: str, *, out: TextIO, err: TextIO) -> None:
    """The script's stdout and stderr as SSM kept them, and a note where SSM cut them."""
    for text, stream, limit, name in (
        (invocation.get("StandardOutputContent", ""), out, STDOUT_LIMIT, "stdout"),
        (invocation.get("StandardErrorContent", ""), err, STDERR_LIMIT, "stderr"),
    ):
        if text:
            print(text, end="" if text.endswith("\n") else "\n", file=stream, flush=True)
        if len(text) >= limit or text.rstrip().endswith(TRUNCATED_SUFFIX):
            where = (
                f"CloudWatch log group {log_group}, stream {command_id}/..."
                if log_group
                else "nowhere: set aws.log_group to keep it in CloudWatch"
            )
            print(f"SSM kept only the first {limit:,} characters of {name}; the whole is in {where}", file=err)


def outcome(invocation: dict, command_id: str) -> RemoteResult:
    """Exit 0 on Success, else the script's exit code (or 1), with the final status named."""
    status = invocation["Status"]
    details = invocation.get("StatusDetails", "")
    name = _FINAL_NAMES.get(details, details.replace(" ", "") or status)
    code = invocation.get("ResponseCode")
    if status == "Success":
        return RemoteResult(0, f"SSM command {command_id}: Success")
    return RemoteResult(exit_code(code) or 1, f"SSM command {command_id}: {name}, exit code {code}")
