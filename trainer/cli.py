"""Train or explain a list of configs and report one line each; shared by `invoke train` and `python -m trainer`."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from trainer.errors import BadInput, Terminated

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def run(configs: list[str], explain: bool, configs_dir: Path, lock_timeout: float) -> int:
    """Exit code: 0 when every config trained or skipped, 2 for bad input, 1 for anything else."""
    signal.signal(signal.SIGTERM, _terminate)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    paths = [Path(name) for name in configs] or sorted(configs_dir.glob("*.yaml"))
    if not paths:
        return _fail(EXIT_BAD_INPUT, f"--config: none given and no *.yaml in {configs_dir}")

    from trainer.pipeline import prepare

    try:
        prepared = [prepare(path) for path in paths]
    except BadInput as err:
        return _fail(EXIT_BAD_INPUT, str(err))

    from trainer.pipeline import explain as explain_one
    from trainer.pipeline import skip_or_train
    from trainer.tracking import Store, tracking_uri

    uri = tracking_uri()
    code = EXIT_OK
    for item in prepared:
        store = Store(uri, item.config.experiment)
        try:
            if explain:
                print("\n".join(explain_one(item, store)), flush=True)
                continue
            print(_describe(skip_or_train(item, store, lock_timeout, _say)), flush=True)
        except BadInput as err:
            message = str(err)
            code = max(
                code,
                _fail(
                    EXIT_BAD_INPUT,
                    message if message.startswith(str(item.path)) else f"{item.path}: {message}",
                ),
            )
        except (Terminated, KeyboardInterrupt):
            return _fail(EXIT_FAILED, f"{item.path}: interrupted; the run was marked KILLED")
        except Exception as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            code = max(code, _fail(EXIT_FAILED, f"{item.path}: failed: {type(err).__name__}: {first_line}"))
    return code


def _describe(outcome) -> str:
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
