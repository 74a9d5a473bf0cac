"""invoke tasks: read flags and invoke.yaml, call trainer/ or ops/, print, set the exit code.

Imports of the project's modules stay inside the tasks, so `invoke --list` starts instantly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke import Collection, Exit, task

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@task(
    iterable=["config"],
    help={
        "config": "A config file to train (repeatable); default: every configs/*.yaml.",
        "explain": "Print each config's key parts and what differs from the newest earlier run; train nothing.",
    },
)
def train(c, config=None, explain=False):
    """Train every config whose composite key has no finished run yet; skip the rest."""
    from trainer.cli import run

    os.chdir(ROOT)
    code = run(
        config or [],
        explain=explain,
        configs_dir=Path(c.train.configs_dir),
        lock_timeout=c.train.lock_timeout,
    )
    if code:
        raise Exit(code=code)


@task(help={"host": "Address to serve on.", "port": "Port to serve on."})
def ui(c, host="127.0.0.1", port=5000):
    """Serve the MLflow UI on the store that `invoke train` writes to."""
    from trainer.tracking import server_command

    os.chdir(ROOT)
    c.run(" ".join(server_command(host, port)), pty=sys.stdout.isatty())


@task(
    help={
        "k": "Only tests matching this pytest -k expression.",
        "lint": "Also run every linter (invoke lint); --no-lint skips them.",
    }
)
def test(c, k="", lint=True):
    """Run the test suite, then the linters; fails if either fails."""
    selector = f" -k {k!r}" if k else ""
    tests = c.run(f"{sys.executable} -m pytest{selector}", pty=sys.stdout.isatty(), warn=True)
    lint_code = _lint(c) if lint else 0
    if tests.exited or lint_code:
        raise Exit(code=tests.exited or lint_code)


@task(name="lint")
def lint_task(c):
    """Run every linter: ruff, hadolint, shellcheck, actionlint, terraform fmt, checkov and the compose check."""
    if code := _lint(c):
        raise Exit(code=code)


def _lint(c) -> int:
    from ops.lint import HostSettings, lint

    host = c.config.host
    return lint(ROOT, HostSettings(host.network, host.data_dir, host.tracking_uri))


ns = Collection(train, ui, test, lint_task)
