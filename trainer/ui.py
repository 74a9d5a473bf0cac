"""`invoke ui`: the MLflow UI over the store that training writes to, stopped cleanly with its parent.

`mlflow server` starts workers of its own, so a SIGTERM to `invoke ui` alone used to leave the server running
as an orphan on the port. Here the server runs in its own process group, SIGTERM and Ctrl-C are passed to that
whole group, and the task exits with the server's own code. A taken port is found before the server starts;
MLflow's start-up noise (deprecation warnings, INFO lines) goes to a log file unless `verbose`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from trainer.errors import ProjectError, say
from trainer.tracking import server_command, tracking_uri


def serve(host: str, port: int, *, verbose: bool = False, log: Path) -> int:
    """Run the UI until it exits or this process is told to stop; the server's exit code."""
    _refuse_taken(host, port)
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"MLflow UI on http://{host}:{port} over {tracking_uri()}; Ctrl-C stops it")
    if not verbose:
        say(f"server log: {log}")
    with log.open("ab") as sink:
        output = None if verbose else sink
        server = subprocess.Popen(server_command(host, port), stdout=output, stderr=output, start_new_session=True)
        previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}

        def forward(number: int, frame: object) -> None:
            os.killpg(server.pid, number)

        for number in previous:
            signal.signal(number, forward)
        try:
            code = server.wait()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    return code if code >= 0 else 128 - code


def _refuse_taken(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ProjectError(f"--port {port}: {host}:{port} is already in use ({err.strerror})") from err
