"""`invoke ui`: stopped by a signal to its own PID, the MLflow server stops too; a taken port is one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from ops.mlflow_server import free_port, wait_for_health

ROOT = Path(__file__).resolve().parents[2]


def start_ui(port: int, store: Path, output: Path) -> subprocess.Popen:
    with output.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "invoke", "ui", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_sigterm_to_invoke_ui_stops_the_server_and_keeps_mlflow_quiet(tmp_path: Path) -> None:
    port = free_port()
    output = tmp_path / "ui.out"
    ui = start_ui(port, tmp_path / "store", output)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", ui, output)
    finally:
        ui.send_signal(signal.SIGTERM)  # its own PID only, as a supervisor or `kill` sends it
        code = ui.wait(timeout=60)
    assert code == 0
    assert port_is_free(port), "mlflow server outlived invoke ui"
    lines = output.read_text().splitlines()
    assert (
        lines[0]
        == f"MLflow UI on http://127.0.0.1:{port} over sqlite:///{tmp_path / 'store' / 'mlflow.db'}; Ctrl-C stops it"
    )
    assert lines[1].startswith("server log: ")
    assert len(lines) == 2, "MLflow's start-up lines reached the terminal"


def test_a_taken_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "invoke", "ui", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: --port {port}: 127.0.0.1:{port} is already in use (Address already in use)"
    ]
