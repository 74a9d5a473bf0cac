"""Checks for every value that reaches a docker command line or a host script.

Each check returns the value (normalised where that is safe) or raises BadInput with one line naming the flag
or invoke.yaml key. Quoting in the host script is the second line of defence, not the first: a value that
needs quoting is refused here.
"""

from __future__ import annotations

import re

from trainer.errors import BadInput

_SHA = re.compile(r"[0-9a-f]{7,40}")
# Docker reference grammar: registry host[:port]; path components lowercase, separated by . _ __ or dashes.
_REGISTRY = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*")
_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(/[A-Za-z0-9][A-Za-z0-9_-]*)*")
_INSTANCE_ID = re.compile(r"(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_PARAMETER = re.compile(r"/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
_LOG_GROUP = re.compile(r"[A-Za-z0-9_./#-]{1,512}")
_DOCKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")
_ABSOLUTE_PATH = re.compile(r"(/[A-Za-z0-9_.-]+)+")
_SSH_HOST = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.-]*@)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?")

EXECUTION_TIMEOUT_MAX = 172_800  # AWS-RunShellScript's upper bound for executionTimeout
KEPT_MAX = 1000


def _match(pattern: re.Pattern[str], value: str, where: str, expected: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BadInput(f"{where}: {value!r} is not {expected}")
    return value


def sha(value: str, where: str = "--sha") -> str:
    """A git commit SHA, 7 to 40 hex digits; lowercased, as git prints it."""
    return _match(_SHA, str(value).strip().lower(), where, "a git commit SHA (7 to 40 hex characters)")


def registry(value: str, where: str = "image.registry") -> str:
    return _match(_REGISTRY, value, where, "a registry host name such as ghcr.io")


def image_path(value: str, where: str) -> str:
    """An owner or repository name in an image reference (lowercase, no slashes)."""
    return _match(_PATH_COMPONENT, value, where, "a lowercase image name part (letters, digits, . _ -)")


def source_url(value: str, where: str = "image.source") -> str:
    return _match(_HTTP_URL, value, where, "an http(s) URL")


def config_name(value: str, where: str = "--config") -> str:
    """A training config by name: `solubility/xgb`, `solubility/xgb.yaml` and `configs/solubility/xgb.yaml` all mean
    configs/solubility/xgb.yaml; every path part starts with a letter or digit, so `..` cannot climb out."""
    name = str(value).removeprefix("configs/").removesuffix(".yaml")
    _match(_CONFIG_NAME, name, where, "a config name such as solubility/xgb or configs/solubility/xgb.yaml")
    return name


def seconds(value: object, where: str, *, low: int, high: int) -> int:
    """A whole number of seconds within [low, high]; strings from INVOKE_* variables are accepted."""
    return _whole_number(value, where, low, high, "seconds")


def wait(value: object, where: str) -> int:
    """A bound on a wait in whole seconds, 0 (do not wait) up to the longest run SSM allows."""
    return seconds(value, where, low=0, high=EXECUTION_TIMEOUT_MAX)


def kept(value: object, where: str) -> int:
    """How many of the newest backups or snapshots to keep: at least the one just made."""
    return _whole_number(value, where, 1, KEPT_MAX, "")


def _whole_number(value: object, where: str, low: int, high: int, unit: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        of_unit = f" of {unit}" if unit else ""
        raise BadInput(f"{where}: {value!r} is not a whole number{of_unit} from {low} to {high}")
    return int(text)


def instance_id(value: str, where: str = "aws.instance_id") -> str:
    if not value:
        raise BadInput(f"{where}: empty; set it in invoke.yaml or INVOKE_AWS_INSTANCE_ID (Terraform's instance_id)")
    return _match(_INSTANCE_ID, value, where, "an EC2 or managed instance id such as i-0123456789abcdef0")


def region(value: str, where: str = "aws.region") -> str:
    return _match(_REGION, value, where, "an AWS region such as eu-west-1")


def parameter_name(value: str, where: str = "aws.token_parameter") -> str:
    return _match(_PARAMETER, value, where, "an SSM parameter name such as /ghcr/ro-token")


def log_group(value: str, where: str = "aws.log_group") -> str:
    """A CloudWatch log group name, or empty for none."""
    return value and _match(_LOG_GROUP, value, where, "a CloudWatch log group name")


def docker_name(value: str, where: str = "host.network") -> str:
    return _match(_DOCKER_NAME, value, where, "a docker network name")


def http_url(value: str, where: str = "host.tracking_uri") -> str:
    return _match(_HTTP_URL, value, where, "an http(s) URL such as http://mlflow:5000")


def absolute_path(value: str, where: str = "host.data_dir") -> str:
    return _match(_ABSOLUTE_PATH, str(value).rstrip("/"), where, "an absolute path (letters, digits, . _ -)")


def ssh_host(value: str, where: str = "--host") -> str:
    return _match(_SSH_HOST, value, where, "an SSH destination such as user@host or user@host:2222")
