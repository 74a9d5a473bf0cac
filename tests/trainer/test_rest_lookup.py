"""The REST skip look-up gives the same answers as MLflow's own search on a real server, without importing MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from mlflow import MlflowClient

from ops.mlflow_server import free_port
from tests.trainer.conftest import ROOT, run_trainer
from tests.trainer.test_sqlite_lookup import mlflow_answer, write_lookup_cases
from trainer.errors import BadInput, ProjectError
from trainer.tracking import Store


def test_rest_look_up_agrees_with_mlflow_search_on_a_real_server(mlflow_server: str) -> None:
    client = MlflowClient(mlflow_server)
    name, other_name = f"ai-drug-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    experiment, other = client.create_experiment(name), client.create_experiment(other_name)
    cases, newer = write_lookup_cases(client, experiment, other)

    store = Store(mlflow_server, name)
    for key in [*cases, "never-seen"]:
        assert store.find_complete(key) == mlflow_answer(client, experiment, key), key
    assert store.find_complete("finished-complete") == newer
    assert Store(mlflow_server, other_name).find_complete("other-experiment") is not None
    assert Store(mlflow_server, "no-such-experiment").find_complete("finished-complete") is None
    assert Store(mlflow_server + "/", name).find_complete("finished-complete") == newer


def test_the_server_skip_path_imports_no_mlflow(make_config, mlflow_server: str) -> None:
    config = make_config("xgb", name="rest-skip")
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    first = run_trainer("--config", str(config), env=env)
    assert first.returncode == 0, first.stderr
    probe = (
        "import sys; from pathlib import Path; from trainer.cli import run\n"
        f"code = run([{str(config)!r}], False, Path('configs'), 60)\n"
        "names = ('torch', 'xgboost', 'sklearn', 'mlflow', 'rdkit', 'requests')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print('heavy:', heavy, 'code:', code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert "skipped" in result.stdout, result.stderr
    assert first.stdout.split("  run ")[1].split()[0] in result.stdout
    assert "heavy: [] code: 0" in result.stdout


def test_an_unreachable_server_is_one_error_not_a_long_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProjectError, match=rf"^{url}: tracking server unreachable"):
        Store(url, "ai-drug").find_complete("k")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "soon")
    with pytest.raises(BadInput, match=r"^MLFLOW_HTTP_REQUEST_TIMEOUT: 'soon' is not a number of seconds >= 0$"):
        Store(url, "ai-drug").find_complete("k")
