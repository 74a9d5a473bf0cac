"""Train or explain a list of configs and report one line each; shared by `invoke train` and `python -m trainer`."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.diskspace import disk_full
from trainer.errors import (
    EXIT_FAILED,
    EXIT_OK,
    BadInput,
    ProjectError,
    RunKilled,
    Terminated,
    fail,
    one_line,
    raise_terminated,
    say,
)
from trainer.tracking import quiet_mlflow
from trainer.tracking_server import reach

if TYPE_CHECKING:
    from trainer.pipeline import Outcome


def run(configs: list[str], explain: bool, configs_dir: Path, lock_timeout: float) -> int:
    """Exit code: 0 when every config trained or skipped, 2 for bad input, 1 for anything else."""
    signal.signal(signal.SIGTERM, raise_terminated)
    quiet_mlflow()
    try:
        paths = config_paths(configs, configs_dir)
    except BadInput as err:
        return fail(err.exit_code, err)

    from trainer.endpoints import check_consistent
    from trainer.pipeline import prepare

    prepared = []
    for path in paths:
        try:
            prepared.append(prepare(path))
        except BadInput as err:
            return fail(err.exit_code, _named(path, err))
        except (Terminated, KeyboardInterrupt):
            return fail(EXIT_FAILED, f"{path}: interrupted before any training started")
        except Exception as err:
            return fail(EXIT_FAILED, _failed(path, err))
    try:
        check_consistent([(item.path, item.config, item.parts.data_hash) for item in prepared])
    except BadInput as err:
        return fail(err.exit_code, err)

    from trainer.pipeline import explain as explain_one
    from trainer.pipeline import skip_or_train
    from trainer.tracking import Store, tracking_uri

    uri = tracking_uri()
    try:
        reach(uri, say)
    except ProjectError as err:
        return fail(err.exit_code, err)
    code = EXIT_OK
    for item in prepared:
        store = Store(uri, item.config.experiment)
        try:
            if explain:
                print("\n".join(explain_one(item, store)), flush=True)
                continue
            print(_describe(skip_or_train(item, store, lock_timeout, say)), flush=True)
        except ProjectError as err:
            code = max(code, fail(err.exit_code, _named(item.path, err)))
        except RunKilled as stop:
            return fail(EXIT_FAILED, f"{item.path}: interrupted; its run {stop.run_id} is marked KILLED")
        except (Terminated, KeyboardInterrupt):
            return fail(EXIT_FAILED, f"{item.path}: interrupted before its run started; no run was written")
        except Exception as err:
            code = max(code, fail(EXIT_FAILED, _failed(item.path, err, uri)))
    return code


def config_paths(configs: list[str], configs_dir: Path) -> list[Path]:
    """The config files asked for, or every *.yaml under `configs_dir`; a name that is no file gets a hint."""
    if not configs:
        found = sorted(configs_dir.rglob("*.yaml"))
        if not found:
            raise BadInput(f"--config: none given and no *.yaml in {configs_dir}")
        return found
    paths = [Path(name) for name in configs]
    for path in paths:
        if path.is_dir():
            raise BadInput(f"--config {path}: is a folder; name a config file in it")
        if not path.is_file():
            like = sorted(str(match) for match in configs_dir.rglob(f"{path.stem}.yaml"))
            hint = f"; did you mean {' or '.join(like)}?" if like else ""
            raise BadInput(f"--config {path}: no such file{hint}")
    return paths


def _named(path: Path, err: ProjectError) -> str:
    """The refusal, naming the config file first."""
    message = str(err)
    return message if message.startswith(str(path)) else f"{path}: {message}"


def _failed(path: Path, err: Exception, uri: str) -> str:
    """An unexpected error of one config, as one line; a full disk says so and where, whatever wraps it."""
    return f"{path}: {disk_full(err, uri) or f'failed: {one_line(err)}'}"


def _describe(outcome: Outcome) -> str:
    head = f"{outcome.path}  {outcome.family}  {outcome.action}  run {outcome.run_id}"
    if outcome.action == "trained":
        return f"{head}  test RMSE {outcome.test_rmse:.3f}  {outcome.seconds:.1f} s"
    return f"{head}  (a complete run already holds this key)"
