"""A tracking server that does not answer is found at once and reported; an interrupt says what it stopped."""

from __future__ import annotations

import fcntl
import http.server
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient

from ops.mlflow_server import free_port
from tests.trainer.conftest import ROOT, run_trainer
from trainer.lock import lock_path
from trainer.tracking_server import OutageReporter, bound_retries, retries_for


def test_an_unreachable_server_is_one_line_naming_it_before_any_config(make_config) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    configs = [str(make_config("rf")), str(make_config("xgb"))]
    result = run_trainer(
        "--config", configs[0], "--config", configs[1],
        env={"MLFLOW_TRACKING_URI": uri, "TRAINER_SERVER_CHECK": "1"},
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: tracking server {uri} does not answer (")
    assert "after 1 s" in line


def test_invoke_predict_against_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    molecules = tmp_path / "in.csv"
    molecules.write_text("smiles\nCCO\n")
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "predict", "--input", str(molecules), "--output", str(tmp_path / "o.csv")],
        cwd=ROOT,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri, "TRAINER_SERVER_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: tracking server {uri} does not answer")
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("variable", ["TRAINER_SERVER_CHECK", "TRAINER_SERVER_RETRY"])
def test_a_bad_wait_setting_is_bad_input_naming_it(make_config, variable: str) -> None:
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}", variable: "-3"}
    result = run_trainer("--config", str(make_config("rf")), env=env, timeout=60)
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [f"error: {variable}: '-3' is not a number of seconds >= 0"],
    )


def test_retries_cover_the_window_with_doubling_waits() -> None:
    assert retries_for(5) == 3  # waits 0 + 2 + 4 s
    assert retries_for(120) == 7  # 0 + 2 + ... + 64 = 126 s
    assert retries_for(10_000) == 10  # MLflow's own limit


class _LateExperimentServer(http.server.BaseHTTPRequestHandler):
    """Answers MLflow's get-experiment-by-name, for a server that comes back after an outage."""

    def do_GET(self) -> None:
        body = json.dumps({"experiment": {"experiment_id": "7", "name": "late", "lifecycle_stage": "active"}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_an_outage_is_said_when_it_starts_and_when_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    bound_retries(uri, 30, lines.append)
    servers: list[http.server.HTTPServer] = []

    def come_back() -> None:
        servers.append(http.server.HTTPServer(("127.0.0.1", port), _LateExperimentServer))
        servers[0].serve_forever()

    threading.Timer(2.5, come_back).start()
    try:
        found = MlflowClient(uri).get_experiment_by_name("late")
    finally:
        while not servers:
            threading.Event().wait(0.1)
        servers[0].shutdown()
        servers[0].server_close()
        logger = logging.getLogger("urllib3.connectionpool")
        logger.handlers = [handler for handler in logger.handlers if not isinstance(handler, OutageReporter)]
    assert found.experiment_id == "7"
    assert lines[0] == (
        f"warning: tracking server {uri} is not answering; retrying for up to 30 s (TRAINER_SERVER_RETRY sets how long)"
    )
    assert lines[1].startswith(f"tracking server {uri} answers again after ")
    assert len(lines) == 2


def test_sigterm_while_waiting_for_the_lock_says_no_run_was_written(make_config, store_uri) -> None:
    lock = lock_path(store_uri)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        config = make_config("rf")
        process = subprocess.Popen(
            [sys.executable, "-m", "trainer", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        waiting = process.stderr.readline()
        assert "waiting for another training on this store" in waiting
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stdout == ""
    assert stderr.splitlines() == [
        f"error: {make_config('rf')}: interrupted before its run started; no run was written"
    ]
    client = MlflowClient(store_uri)
    experiment = client.get_experiment_by_name("ai-drug")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []
