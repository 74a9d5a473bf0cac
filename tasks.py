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


def _refuse_bad_overrides() -> None:
    """Exit 2 with one line for an INVOKE_* variable that invoke would fail to read, with a traceback."""
    if any(name.startswith("INVOKE_") for name in os.environ):
        from ops.settings import check_overrides
        from trainer.errors import guard

        if code := guard(lambda: check_overrides(os.environ) or 0):
            raise SystemExit(code)


_refuse_bad_overrides()


def _refuse_bad_flags() -> None:
    from ops.task_flags import refuse_bad_flags

    refuse_bad_flags()


_refuse_bad_flags()


def _settings(c):
    """invoke.yaml, with its INVOKE_* overrides, as validated Settings; BadInput names a refused key."""
    from ops.settings import load_settings

    return load_settings(c.config, os.environ)


def _guarded(action, failures=()) -> None:
    """Run `action` through the one error path; end the task with its exit code when that is not 0."""
    from trainer.errors import guard

    if code := guard(action, failures):
        raise Exit(code=code)


def _ops(c, command, **flags) -> None:
    """An ops.commands function with the validated settings and `flags`; AWS's errors are one line too."""
    from ops.commands import FAILURES

    _guarded(lambda: command(_settings(c), **flags), FAILURES)


@task(
    iterable=["config"],
    help={
        "config": "A config file to train (repeatable); default: every *.yaml under configs/.",
        "explain": "Print each config's key parts and what differs from the newest earlier run; train nothing.",
    },
)
def train(c, config=None, explain=False):
    """Train every config whose composite key has no finished run yet; skip the rest."""
    from trainer.cli import run

    configs = [os.path.relpath(Path(name).resolve(), ROOT) for name in config or []]

    def action() -> int:
        settings = _settings(c).train
        os.chdir(ROOT)
        return run(configs, explain=explain, configs_dir=Path(settings.configs_dir), lock_timeout=settings.lock_timeout)

    _guarded(action)


@task(
    help={
        "host": "Address to serve on.",
        "port": "Port to serve on.",
        "verbose": "Show MLflow's own start-up lines instead of writing them to .mlflow/ui.log.",
    }
)
def ui(c, host="127.0.0.1", port=5000, verbose=False):
    """Serve the MLflow UI on the store that `invoke train` writes to; SIGTERM or Ctrl-C stops it."""
    from trainer.tracking import EMBEDDED_STORE
    from trainer.ui import serve

    _guarded(lambda: serve(host, port, verbose=verbose, log=EMBEDDED_STORE / "ui.log"))


@task(
    help={
        "sha": "Commit to tag the image with; must be the checked-out one (default: HEAD).",
        "dry_run": "Print the docker command; run nothing.",
    }
)
def build(c, sha="", dry_run=False):
    """Build the training image of the checked-out commit, tagged registry/owner/name:<sha>."""
    from ops import commands

    _ops(c, commands.build, root=ROOT, sha=sha, dry_run=dry_run)


@task(
    help={
        "sha": "Commit whose image to push (default: HEAD).",
        "dry_run": "Print the docker command; run nothing.",
    }
)
def push(c, sha="", dry_run=False):
    """Push the training image of a commit; log in to the registry first."""
    from ops import commands

    _ops(c, commands.push, root=ROOT, sha=sha, dry_run=dry_run)


@task(
    iterable=["config"],
    help={
        "sha": "Commit whose image to train (required).",
        "config": "A config name to train, e.g. solubility/xgb (repeatable); default: every config in the image.",
        "host": "Run over SSH on user@host[:port] instead of SSM on aws.instance_id.",
        "dry_run": "Print the host script and the request; send nothing.",
        "target": "host (default: the EC2 host, one training at a time) or batch (one AWS Batch job per config).",
        "wait": "With --target batch: wait for the jobs and report each outcome; --no-wait prints the job ids.",
    },
)
def dispatch(c, sha="", config=None, host="", dry_run=False, target="host", wait=True):
    """Train a commit's image on the host (SSM Run Command or SSH) or on AWS Batch; non-zero if it failed."""
    from ops import commands

    flags = {"root": ROOT, "sha": sha, "configs": config or [], "host": host, "dry_run": dry_run}
    _ops(c, commands.dispatch, **flags, engine=target, wait=wait)


@task(
    help={
        "model": "ai-drug-solubility-xgb@champion, a registered name, or a runs:/ or models:/ URI;"
        " default: every endpoint's champions, side by side.",
        "endpoint": "Only this endpoint's champions (without --model), e.g. solubility.",
        "input": "CSV file with a SMILES column.",
        "output": "CSV file to write: the input's columns plus predictions and a reason column.",
        "smiles_column": "Name of the SMILES column.",
    }
)
def predict(c, input="", output="", model="", smiles_column="smiles", endpoint=""):
    """Predict every row of a CSV file with registered or logged models; invalid SMILES get a reason."""
    from botocore.exceptions import BotoCoreError, ClientError

    from trainer.predict import predict_file

    def action() -> int:
        print(predict_file(model, input, output, smiles_column, endpoint).line())
        return 0

    # A model's artifacts in S3 fail with botocore's errors.
    _guarded(action, (BotoCoreError, ClientError))


@task(
    help={
        "repeats": "How many times each timed command runs (the median is reported); default 5, 2 with --quick.",
        "quick": "The same code on small sizes and shortened configs (under two minutes).",
        "out": "Folder for bench/results.json, docs/ figures and README.md's section; default: the project"
        " (.bench/quick with --quick).",
        "epoch_cap": "Train the committed configs for at most this many epochs (where a family has epochs).",
    }
)
def bench(c, repeats=0, quick=False, out="", epoch_cap=0):
    """Measure scale, featurisation and hash limits, the skip path, training and the feature cache."""
    from ops.bench import run
    from ops.bench_report import render

    def action() -> int:
        target = Path(out) if out else ROOT / (".bench/quick" if quick else "")
        results = run(ROOT, target.resolve(), quick=quick, repeats=repeats or None, epoch_cap=epoch_cap or None)
        print(render(results, []))
        return 0

    _guarded(action)


@task(
    help={
        "k": "Only tests matching this pytest -k expression.",
        "lint": "Also run every linter (invoke lint); --no-lint skips them.",
    }
)
def test(c, k="", lint=True):
    """Run the test suite, then the linters; fails if either fails."""
    selector = f" -k {k!r}" if k else ""

    def action() -> int:
        host = _settings(c).host
        tests = c.run(f"{sys.executable} -m pytest{selector}", pty=sys.stdout.isatty(), warn=True)
        lint_code = _lint(host) if lint else 0
        return tests.exited or lint_code

    _guarded(action)


@task(name="lint")
def lint_task(c):
    """Run every linter: ruff, hadolint, shellcheck, actionlint, terraform fmt, checkov and the compose check."""
    _guarded(lambda: _lint(_settings(c).host))


def _lint(host) -> int:
    from ops.lint import lint

    return lint(ROOT, host)


@task(
    name="run",
    default=True,
    help={
        "sha": "Commit whose training image runs the vacuum (required).",
        "host": "Run over SSH on user@host[:port] instead of SSM on aws.instance_id.",
        "dry_run": "Print the host script, the request and the snapshot plan; change nothing.",
    },
)
def maintenance_run(c, sha="", host="", dry_run=False):
    """Vacuum the MLflow store on the host with MLflow stopped, then snapshot its EBS volume."""
    from ops import commands

    _ops(c, commands.maintenance, root=ROOT, sha=sha, host=host, dry_run=dry_run)


@task(
    name="vacuum",
    help={
        "db": "The MLflow SQLite store to compact.",
        "json": "Print the report as one 'vacuum-report {...}' line, for a caller that parses it.",
    },
)
def maintenance_vacuum(c, db="", json=False):
    """Check, back up and VACUUM an SQLite store under the training lock; keep the newest backups."""
    from ops import commands

    _ops(c, commands.vacuum, db=db, json=json)


@task(
    name="snapshot",
    help={
        "reason": "Why the snapshot is taken; stored in its Reason tag.",
        "database_bytes": "Size of the MLflow database, for the DatabaseBytes tag (default: unknown).",
        "dry_run": "List the snapshot it would create and the old ones it would delete; change nothing.",
    },
)
def maintenance_snapshot(c, reason="manual", database_bytes=None, dry_run=False):
    """Snapshot the EBS volume holding the MLflow store; delete this app's snapshots beyond retention."""
    from ops import commands

    _ops(c, commands.snapshot, reason=reason, database_bytes=database_bytes, dry_run=dry_run)


@task(
    name="restore",
    help={
        "to": "The new SQLite file to write (its folder must exist; the file must not).",
        "timestamp": "Restore the store as it was at this ISO 8601 time (UTC unless it names a zone).",
    },
)
def store_restore(c, to="", timestamp=""):
    """Restore the MLflow store from its Litestream replica in S3 (store.replica_url) into a new file."""
    from ops import commands

    _ops(c, commands.restore_store, to=to, timestamp=timestamp)


@task(
    name="migrate",
    help={
        "to": "The empty PostgreSQL database to copy into: postgresql+psycopg://user@host:port/database.",
        "source": "The SQLite store to copy (default: the embedded one, or MLFLOW_TRACKING_URI if sqlite:///).",
    },
)
def store_migrate(c, to="", source=""):
    """Copy a SQLite MLflow store (runs, metric histories, registry) into an empty PostgreSQL database."""
    from ops.store_migration import migrate
    from trainer.tracking import tracking_uri

    def action() -> int:
        print("\n".join(migrate(source or tracking_uri(), to).lines()))
        return 0

    _guarded(action)


ns = Collection(train, ui, predict, build, push, dispatch, bench, test, lint_task)
ns.add_collection(Collection("maintenance", maintenance_run, maintenance_vacuum, maintenance_snapshot))
ns.add_collection(Collection("store", store_restore, store_migrate))
