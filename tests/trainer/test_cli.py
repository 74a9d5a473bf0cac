"""End to end through `invoke train` and `python -m trainer`, as processes, against real stores."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from ops.mlflow_server import free_port, wait_for_health
from tests.trainer.conftest import ROOT, run_trainer
from trainer.tracking import COMPLETE_TAG

LINE = re.compile(r"^(?P<config>\S+)  (?P<family>\w+)  (?P<action>trained|skipped)  run (?P<run>[0-9a-f]{32})")


def outcomes(stdout: str) -> dict[str, tuple[str, str]]:
    """family -> (action, run id), from the one line per config."""
    found = {}
    for line in stdout.splitlines():
        if match := LINE.match(line):
            found[match["family"]] = (match["action"], match["run"])
    return found


def running_runs(database: Path) -> list[str]:
    """Ids of RUNNING runs, read without MLflow: a client opening a store that another process is still
    creating would race it for the tables."""
    if not database.is_file():
        return []
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as connection:
        try:
            return [row[0] for row in connection.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'")]
        except sqlite3.OperationalError:
            return []


def invoke_train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "train", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_invoke_train_twice_trains_then_skips_everything(make_config, store_uri) -> None:
    configs = ["--config", str(make_config("rf")), "--config", str(make_config("xgb"))]
    first = invoke_train(*configs)
    assert first.returncode == 0, first.stderr
    trained = outcomes(first.stdout)
    assert {family: action for family, (action, _) in trained.items()} == {"rf": "trained", "xgb": "trained"}
    assert re.search(r"rf  trained  run [0-9a-f]{32}  test RMSE \d+\.\d{3}  \d+\.\d s", first.stdout)

    second = invoke_train(*configs)
    assert second.returncode == 0, second.stderr
    assert outcomes(second.stdout) == {family: ("skipped", run) for family, (_, run) in trained.items()}


def test_stderr_holds_only_the_learning_curve_lines_no_mlflow_noise(make_config, store_uri) -> None:
    result = run_trainer("--config", str(make_config("transformer", epochs=2, augment=1, tta=1)))
    assert result.returncode == 0, result.stderr
    assert outcomes(result.stdout)["transformer"][0] == "trained"
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["transformer epoch 1/2", "transformer epoch 2/2"], lines


def test_the_skip_path_imports_no_ml_framework(make_config, store_uri) -> None:
    config = make_config("xgb")
    assert run_trainer("--config", str(config)).returncode == 0
    probe = (
        "import sys; from pathlib import Path; from trainer.cli import run\n"
        f"code = run([{str(config)!r}], False, Path('configs'), 60)\n"
        "heavy = sorted(m for m in ('torch', 'xgboost', 'sklearn', 'mlflow', 'rdkit') if m in sys.modules)\n"
        "print('heavy:', heavy, 'code:', code)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "skipped" in result.stdout, result.stderr
    assert "heavy: [] code: 0" in result.stdout


def test_retrain_matrix_in_a_copy_of_the_project(make_config, tmp_path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "trainer", project / "trainer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "requirements.txt", project / "requirements.txt")
    (project / "README.md").write_text("# copy\n")
    rf, xgb = make_config("rf"), make_config("xgb")
    data = Path(yaml.safe_load(rf.read_text())["data"]["path"])
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", "PYTHONPATH": str(project)}

    def actions() -> dict[str, str]:
        result = subprocess.run(
            [sys.executable, "-m", "trainer", "--config", str(rf), "--config", str(xgb)],
            cwd=project,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return {family: action for family, (action, _) in outcomes(result.stdout).items()}

    assert actions() == {"rf": "trained", "xgb": "trained"}
    assert actions() == {"rf": "skipped", "xgb": "skipped"}
    (project / "README.md").write_text("# copy\n\nEdited.\n")
    document = yaml.safe_load(xgb.read_text())
    xgb.write_text(yaml.safe_dump(dict(reversed(list(document.items()))), default_flow_style=True))
    assert actions() == {"rf": "skipped", "xgb": "skipped"}
    xgb.write_text(xgb.read_text().replace("n_estimators: 40", "n_estimators: 41"))
    assert actions() == {"rf": "skipped", "xgb": "trained"}
    with (project / "trainer" / "models" / "rf.py").open("a") as module:
        module.write("\n# tuned\n")
    assert actions() == {"rf": "trained", "xgb": "skipped"}
    with data.open("a") as snapshot:
        snapshot.write("9999,propanol,CCCO,0.3,train\n")
    assert actions() == {"rf": "trained", "xgb": "trained"}


def test_two_concurrent_same_key_processes_train_once(make_config, store_uri) -> None:
    config = str(make_config("rf"))
    command = [sys.executable, "-m", "trainer", "--config", config]
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], results
    actions = sorted(outcomes(stdout)["rf"][0] for stdout, _ in results)
    assert actions == ["skipped", "trained"]
    client = MlflowClient(store_uri)
    runs = client.search_runs([client.get_experiment_by_name("ai-drug").experiment_id])
    assert len(runs) == 1
    assert {outcomes(stdout)["rf"][1] for stdout, _ in results} == {runs[0].info.run_id}


def test_sigterm_marks_the_run_killed(make_config, store_uri) -> None:
    slow = make_config("xgb", n_estimators=100000, learning_rate=0.0001, early_stopping_rounds=100000)
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer", "--config", str(slow)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    database = Path(store_uri.removeprefix("sqlite:///"))
    deadline = time.monotonic() + 120
    running: list[str] = []
    while not running and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        running = running_runs(database)
    assert running, f"training never started: {process.poll()} {process.stderr.read() if process.poll() else ''}"
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"interrupted; its run {running[0]} is marked KILLED" in stderr
    run = MlflowClient(store_uri).get_run(running[0])
    assert run.info.status == "KILLED"
    assert COMPLETE_TAG not in run.data.tags


def test_explain_names_the_part_that_changed_and_trains_nothing(make_config, store_uri) -> None:
    config = make_config("rf")
    assert run_trainer("--config", str(config)).returncode == 0
    hit = run_trainer("--config", str(config), "--explain")
    assert hit.returncode == 0
    assert re.search(r"key [0-9a-f]{12} = code [0-9a-f]{12} \+ config [0-9a-f]{12} \+ data [0-9a-f]{12}", hit.stdout)
    assert "hit: run" in hit.stdout

    config.write_text(config.read_text().replace("n_estimators: 8", "n_estimators: 9"))
    miss = run_trainer("--config", str(config), "--explain")
    assert miss.returncode == 0
    assert "miss: differs from run" in miss.stdout
    assert "config differs: model.n_estimators 8 -> 9" in miss.stdout
    assert "code differs" not in miss.stdout
    assert "data differs" not in miss.stdout
    client = MlflowClient(store_uri)
    assert len(client.search_runs([client.get_experiment_by_name("ai-drug").experiment_id])) == 1


def test_bad_config_and_bad_data_exit_2_with_one_line_and_no_run(make_config, store_uri, tmp_path) -> None:
    bad_config = make_config("rf", n_estimators=0)
    result = run_trainer("--config", str(bad_config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bad_config}: model.n_estimators: Input should be greater than or equal to 1"
    ]
    bad_rows = tmp_path / "bad.csv"
    bad_rows.write_text("smiles,logS,split\nCCO,1,train\nC1CC,2,train\nCCC,3,test\nCCCC,4,train\n")
    strict = make_config("rf", name="strict", data={"path": str(bad_rows), "on_invalid": "error"})
    result = run_trainer("--config", str(strict))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {strict}: {bad_rows}: 1 invalid rows: line 3: SMILES 'C1CC' does not parse; "
        "set data.on_invalid: drop to drop them"
    ]
    assert not Path(store_uri.removeprefix("sqlite:///")).parent.exists(), "a refused command created the store"


def test_unreadable_data_is_named_with_its_config_and_creates_no_store(make_config, store_uri, tmp_path) -> None:
    folder = make_config("rf", name="folder", data={"path": str(tmp_path)})
    header_only = tmp_path / "header.csv"
    header_only.write_text("smiles,logS,split\n")
    empty = make_config("rf", name="empty", data={"path": str(header_only)})
    s3 = make_config("rf", name="s3", data={"path": "s3://ai-drug-data/snapshots/tiny.csv"})
    no_aws = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    no_aws |= {"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    no_aws |= {"AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "eu-west-1"}
    expected = {
        folder: f"error: {folder}: data.path: cannot read {tmp_path} (Is a directory)",
        empty: f"error: {empty}: {header_only}: no rows below the header",
        s3: f"error: {s3}: data.path: cannot read s3://ai-drug-data/snapshots/tiny.csv: no AWS credentials found",
    }
    for config, line in expected.items():
        result = subprocess.run(
            [sys.executable, "-m", "trainer", "--config", str(config)],
            cwd=ROOT,
            env=no_aws,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (result.returncode, result.stderr.strip().splitlines(), result.stdout) == (2, [line], "")
    assert not Path(store_uri.removeprefix("sqlite:///")).parent.exists(), "a refused command created the store"


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--bogus"], {}, "error: unrecognized arguments: --bogus"),
        (["--lock-timeout", "soon"], {}, "error: argument --lock-timeout: 'soon' is not a number of seconds >= 0"),
        (["--lock-timeout", "-1"], {}, "error: argument --lock-timeout: '-1' is not a number of seconds >= 0"),
        ([], {"TRAINER_LOCK_TIMEOUT": "abc"}, "error: TRAINER_LOCK_TIMEOUT: 'abc' is not a number of seconds >= 0"),
    ],
)
def test_bad_flags_and_settings_are_one_line_and_exit_2(store_uri, args, env, line) -> None:
    result = run_trainer(*args, env=env)
    assert (result.returncode, result.stderr.splitlines(), result.stdout) == (2, [line], "")
    assert not Path(store_uri.removeprefix("sqlite:///")).parent.exists()


def test_the_entrypoint_trains_against_a_real_mlflow_server(make_config, mlflow_server) -> None:
    config = make_config("rf", name="server")
    env = {"MLFLOW_TRACKING_URI": mlflow_server, "GIT_SHA": "0123456789abcdef0123456789abcdef01234567"}
    first = run_trainer("--config", str(config), env=env)
    assert first.returncode == 0, first.stderr
    action, run_id = outcomes(first.stdout)["rf"]
    assert action == "trained"
    assert len(first.stdout.splitlines()) == 1, "MLflow's 'View run' lines reached stdout"
    again = run_trainer("--config", str(config), env=env)
    assert outcomes(again.stdout)["rf"] == ("skipped", run_id)
    run = MlflowClient(mlflow_server).get_run(run_id)
    assert run.data.tags["git_sha"] == env["GIT_SHA"]
    assert run.data.tags[COMPLETE_TAG] == "true"


def test_invoke_ui_serves_the_store_that_training_writes(make_config, store_uri, tmp_path) -> None:
    trained = run_trainer("--config", str(make_config("rf")))
    _, run_id = outcomes(trained.stdout)["rf"]
    port = free_port()
    log = tmp_path / "ui.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "invoke", "ui", "--port", str(port)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, server, log)
        request = urllib.request.Request(
            f"{url}/api/2.0/mlflow/runs/search",
            data=json.dumps({"experiment_ids": [_experiment_id(url)]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            runs = json.load(response)["runs"]
        assert [found["info"]["run_id"] for found in runs] == [run_id]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _experiment_id(url: str) -> str:
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ai-drug") as response:
        return json.load(response)["experiment"]["experiment_id"]
