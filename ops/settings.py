"""invoke.yaml, validated once into typed settings: one strict model per section, one `Settings` holding them.

tasks.py builds `Settings` from invoke's merged config (invoke.yaml with its INVOKE_<SECTION>_<KEY> overrides)
and hands it down; nothing below reads a key by name. Every value that reaches a docker command line or a host
script is checked here, so that quoting in the host script is the second line of defence, not the first. A
refusal is one line naming where the value came from (invoke.yaml or the variable) and its dotted key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import ErrorDetails

from trainer.errors import BadInput

CONFIG_FILE = "invoke.yaml"
ENV_PREFIX = "INVOKE_"
EXECUTION_TIMEOUT_MAX = 172_800  # AWS-RunShellScript's upper bound for executionTimeout
KEPT_MAX = 1000


class Strict(BaseModel):
    """Unknown keys and loose types (a string for a number, a bool for an int) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _whole(low: int, high: int | None, unit: str = "") -> Any:
    """An int within [low, high] (no upper bound when high is None); a refusal says the range."""
    of_unit = f" of {unit}" if unit else ""
    expected = f"from {low} to {high}" if high is not None else f">= {low}"

    def check(value: object, handler: ValidatorFunctionWrapHandler) -> int:
        try:
            number = handler(value)
        except ValidationError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            raise ValueError(f"{value!r} is not a whole number{of_unit} {expected}")
        return number

    return Annotated[int, WrapValidator(check)]


def _text(pattern: str, expected: str, *, empty: bool = False, normalise: Callable[[str], str] = str) -> Any:
    """A string that matches `pattern` whole (after `normalise`), or with `empty` also ""."""
    compiled = re.compile(pattern)

    def check(value: object, handler: ValidatorFunctionWrapHandler) -> str:
        try:
            text = normalise(handler(value))
        except ValidationError:
            text = None
        if text is None or not (compiled.fullmatch(text) or (empty and text == "")):
            raise ValueError(f"{value!r} is not {expected}")
        return text

    return Annotated[str, WrapValidator(check)]


Wait = _whole(0, EXECUTION_TIMEOUT_MAX, "seconds")  # a bound on a wait: 0 (do not wait) up to SSM's longest run
ExecutionTimeout = _whole(60, EXECUTION_TIMEOUT_MAX, "seconds")
Kept = _whole(1, KEPT_MAX)  # how many of the newest backups or snapshots to keep: at least the one just made
HttpUrl = _text(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", "an http(s) URL such as http://mlflow:5000"
)


class _CrossField(ValueError):
    """A rule between keys of one section; `key` names the one the message is about, `keys` every one it reads."""

    def __init__(self, key: str, keys: tuple[str, ...], message: str):
        super().__init__(message)
        self.key, self.keys = key, keys


def _outlasts(waits: int, waits_key: str, keys: tuple[str, ...], section: str, timeout: int) -> None:
    if waits >= timeout:
        raise _CrossField(
            waits_key,
            keys,
            f"{waits} s must be below {section}.execution_timeout ({timeout} s), "
            "or the host script's waits outlive the run",
        )


class TrainSettings(Strict):
    """`invoke train`: where the configs are and how long a training waits for another one on the store."""

    configs_dir: _text(r"[^\n]+", "the folder of the training configs")
    lock_timeout: _whole(0, None, "seconds")


class ImageSettings(Strict):
    """The training image: registry/owner/name, and the source URL of its OCI label."""

    # Docker reference grammar: registry host[:port]; path components lowercase, separated by . _ __ or dashes.
    registry: _text(
        r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?",
        "a registry host name such as ghcr.io",
    )
    owner: _text(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*", "a lowercase image name part (letters, digits, . _ -)")
    name: _text(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*", "a lowercase image name part (letters, digits, . _ -)")
    source: _text(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", "an http(s) URL")


class AwsSettings(Strict):
    """Where the host is and where it reads the registry token. instance_id may be empty: only the commands
    that reach the host through SSM need it, and they ask for it with `required_instance_id`."""

    region: _text(r"[a-z]{2}(-[a-z]+)+-[0-9]", "an AWS region such as eu-west-1")
    instance_id: _text(
        r"(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})",
        "an EC2 or managed instance id such as i-0123456789abcdef0",
        empty=True,
    )
    token_parameter: _text(r"/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", "an SSM parameter name such as /ghcr/ro-token")
    log_group: _text(r"[A-Za-z0-9_./#-]{1,512}", "a CloudWatch log group name", empty=True)

    def required_instance_id(self) -> str:
        if not self.instance_id:
            raise BadInput(f"aws.instance_id: empty; {missing_instance_id()}")
        return self.instance_id


INSTANCE_ID_PLACEHOLDER = "<aws.instance_id>"


def missing_instance_id() -> str:
    return "a real run needs aws.instance_id: set it in invoke.yaml or INVOKE_AWS_INSTANCE_ID (Terraform's instance_id)"


class DispatchSettings(Strict):
    """`invoke dispatch`: how long the host script may run and wait, and how often SSM is asked how it goes."""

    execution_timeout: ExecutionTimeout
    lock_timeout: Wait
    poll_interval: _whole(1, 3600, "seconds")

    @model_validator(mode="after")
    def _lock_wait_within_the_run(self) -> DispatchSettings:
        keys = ("lock_timeout", "execution_timeout")
        _outlasts(self.lock_timeout, "lock_timeout", keys, "dispatch", self.execution_timeout)
        return self


class HostSettings(Strict):
    """The training host: the MLflow data folder (the store and the training lock), its network and server."""

    data_dir: _text(
        r"(/[A-Za-z0-9_.-]+)+",
        "an absolute path (letters, digits, . _ -)",
        normalise=lambda path: path.rstrip("/"),
    )
    network: _text(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "a docker network name")
    tracking_uri: HttpUrl


class MaintenanceSettings(Strict):
    """`invoke maintenance`: retention, the waits of the vacuum and the health check, and the run's bound."""

    backups_kept: Kept
    snapshots_kept: Kept
    lock_timeout: Wait
    busy_timeout: Wait
    snapshot_timeout: Wait
    health_url: HttpUrl
    health_timeout: Wait
    execution_timeout: ExecutionTimeout

    @property
    def longest_wait(self) -> int:
        """Seconds the host script may spend waiting: for a training before it stops MLflow, once more inside the
        vacuum (a training queued on the lock may take it in between), for a writer, and for /health."""
        return 2 * self.lock_timeout + self.busy_timeout + self.health_timeout

    @model_validator(mode="after")
    def _waits_within_the_run(self) -> MaintenanceSettings:
        key = "lock_timeout (twice) + busy_timeout + health_timeout"
        keys = ("lock_timeout", "busy_timeout", "health_timeout", "execution_timeout")
        _outlasts(self.longest_wait, key, keys, "maintenance", self.execution_timeout)
        return self


class Settings(Strict):
    """Every section of invoke.yaml, each validated."""

    train: TrainSettings
    image: ImageSettings
    aws: AwsSettings
    dispatch: DispatchSettings
    host: HostSettings
    maintenance: MaintenanceSettings


def load_settings(config: Mapping[str, Mapping[str, object]], environ: Mapping[str, str]) -> Settings:
    """`Settings` from invoke's merged config (or any mapping of sections); `environ` says which values came from
    INVOKE_* variables, so that a refusal names the variable instead of invoke.yaml."""
    document = {name: _plain(config[name]) for name in Settings.model_fields if name in config}
    try:
        return Settings.model_validate(document)
    except ValidationError as err:
        raise BadInput(_refusal(err.errors()[0], environ)) from None


def _plain(section: object) -> object:
    """A section as a dict: invoke's config nodes are mappings but not dicts."""
    items = getattr(section, "items", None)
    return dict(items()) if callable(items) else section


def _refusal(item: ErrorDetails, environ: Mapping[str, str]) -> str:
    """One line: where the value came from, the dotted key, and why it is refused."""
    path = [str(part) for part in item["loc"]]
    error = item.get("ctx", {}).get("error")
    if isinstance(error, _CrossField):
        key, keys = f"{path[0]}.{error.key}", [f"{path[0]}.{name}" for name in error.keys]
    else:
        key = ".".join(path) or "(top level)"
        keys = [key]
    message = str(error) if isinstance(error, ValueError) else item["msg"]
    variables = [variable for variable in map(_variable, keys) if variable in environ]
    return f"{', '.join(variables) or CONFIG_FILE}: {key}: {message}"


def _variable(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "_").upper()


def check_overrides(environ: Mapping[str, str]) -> None:
    """BadInput naming the first INVOKE_* variable that overrides a whole-number key with something else.

    invoke casts such a variable to the type of the value it overrides and lets `int('abc')` end the program
    with a traceback, before any task could refuse it; so this runs when tasks.py is loaded.
    """
    for section, section_field in Settings.model_fields.items():
        for key, field in section_field.annotation.model_fields.items():
            variable = _variable(f"{section}.{key}")
            if field.annotation is int and variable in environ and not _is_int(environ[variable]):
                raise BadInput(
                    f"{variable}: {environ[variable]!r} is not a whole number (it overrides {section}.{key})"
                )


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
