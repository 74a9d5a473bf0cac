"""Train or explain a list of configs and report one line each; shared by `invoke train` and `python -m trainer`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.errors import BadInput, ProjectError, RunKilled, Terminated
from trainer.tracking import quiet_mlflow
from trainer.tracking_server import reach

if TYPE_CHECKING:
    from trainer.pipeline import Outcome

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def run(configs: list[str], explain: bool, configs_dir: Path, lock_timeout: float) -> int:
    """Exit code: 0 when every config trained or skipped, 2 for bad input, 1 for anything else."""
    signal.signal(signal.SIGTERM, _terminate)
    quiet_mlflow()
    paths = [Path(name) for name in configs] or sorted(configs_dir.glob("*.yaml"))
    if not paths:
        return _fail(EXIT_BAD_INPUT, f"--config: none given and no *.yaml in {configs_dir}")

    from trainer.pipeline import prepare

    prepared = []
    for path in paths:
        try:
            prepared.append(prepare(path))
        except BadInput as err:
            return _fail(EXIT_BAD_INPUT, _named(path, err))
        except (Terminated, KeyboardInterrupt):
            return _fail(EXIT_FAILED, f"{path}: interrupted before any training started")
        except Exception as err:
            return _fail(EXIT_FAILED, f"{path}: {_one_line(err)}")

    from trainer.pipeline import explain as explain_one
    from trainer.pipeline import skip_or_train
    from trainer.tracking import Store, tracking_uri

    uri = tracking_uri()
    try:
        reach(uri, _say)
    except ProjectError as err:
        return _fail(err.exit_code, err)
    code = EXIT_OK
    for item in prepared:
        store = Store(uri, item.config.experiment)
        try:
            if explain:
                print("\n".join(explain_one(item, store)), flush=True)
                continue
            print(_describe(skip_or_train(item, store, lock_timeout, _say)), flush=True)
        except BadInput as err:
            code = max(code, _fail(EXIT_BAD_INPUT, _named(item.path, err)))
        except RunKilled as stop:
            return _fail(EXIT_FAILED, f"{item.path}: interrupted; its run {stop.run_id} is marked KILLED")
        except (Terminated, KeyboardInterrupt):
            return _fail(EXIT_FAILED, f"{item.path}: interrupted before its run started; no run was written")
        except Exception as err:
            code = max(code, _fail(EXIT_FAILED, f"{item.path}: {_one_line(err)}"))
    return code


def _named(path: Path, err: BadInput) -> str:
    """The refusal, naming the config file first."""
    message = str(err)
    return message if message.startswith(str(path)) else f"{path}: {message}"


def _one_line(err: Exception) -> str:
    """An unexpected error as one line: its type and the first line of its message."""
    text = str(err).strip()
    return f"failed: {type(err).__name__}: {text.splitlines()[0] if text else ''}"


def _describe(outcome: Outcome) -> str:
    head = f"{outcome.path}  {outcome.family}  {outcome.action}  run {outcome.run_id}"
    if outcome.action == "trained":
        return f"{head}  test RMSE {outcome.test_rmse:.3f}  {outcome.seconds:.1f} s"
    return f"{head}  (a complete run already holds this key)"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fail(code: int, message: str) -> int:
    _say(f"error: {message}")
    return code


def _terminate(signum: int, frame: object) -> None:
    raise Terminated
