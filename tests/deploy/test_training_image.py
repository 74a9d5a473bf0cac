"""The training image: what it installs, who it runs as, and its entrypoint run against a temporary store.

No Docker engine runs here, so the image's /app is laid out in a temporary folder by following the final
stage's COPY instructions and .dockerignore, and its ENTRYPOINT runs there with the stage's ENV.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trainer.pipeline import prepare

ROOT = Path(__file__).resolve().parents[2]
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: Path, patterns: list[str]) -> bool:
    """Docker's rules for these patterns: a match on the path or any parent; **/ matches at any depth."""
    parts = relative.parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def lay_out_app(stage, app: Path) -> None:
    """Copy what the stage's COPY instructions take from the build context into `app` (its WORKDIR)."""
    patterns = dockerignore()
    for value in stage.all("COPY"):
        words = shlex.split(value)
        if any(word.startswith("--from=") for word in words):
            continue
        *sources, target = words
        for source in sources:
            origin = ROOT / source.rstrip("/")
            destination = app / target / (origin.name if target.endswith("/") and origin.is_file() else "")
            if origin.is_dir():
                for path in sorted(origin.rglob("*")):
                    relative = path.relative_to(ROOT)
                    if path.is_file() and not ignored(relative, patterns):
                        copy = destination / path.relative_to(origin)
                        copy.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, copy)
            else:
                assert not ignored(Path(source), patterns), f"{source} is copied but .dockerignore drops it"
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination)


def test_both_stages_are_python_311_slim_and_the_final_one_builds_nothing(training_image) -> None:
    build, final = training_image
    assert build.base == final.base == "python:3.11-slim"
    assert build.name == "build"
    assert final.all("COPY")[0] == "--from=build /opt/venv /opt/venv"
    final_runs = " ".join(final.all("RUN"))
    for tool in ("pip install", "apt-get", "gcc", "build-essential", "g++"):
        assert tool not in final_runs


def test_the_image_installs_requirements_txt_alone(training_image) -> None:
    """requirements.txt carries the CPU index and the +cpu pin (tests/deploy/test_requirements.py), so the image
    needs no torch step of its own."""
    assert training_image[0].all("RUN")[-1] == "pip install --no-cache-dir -r /tmp/requirements.txt"


def test_the_image_runs_the_trainer_as_a_non_root_user_with_its_commit(training_image) -> None:
    final = training_image[-1]
    assert final.all("ENTRYPOINT") == ['["python", "-m", "trainer"]']
    assert final.all("CMD") == []
    assert final.all("USER") == ["10001:10001"]
    assert final.all("WORKDIR") == ["/app"]
    assert final.all("ARG") == ["GIT_SHA=unknown"]
    env = final.env()
    assert env["GIT_SHA"] == "$GIT_SHA"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert "org.opencontainers.image.revision=$GIT_SHA" in " ".join(final.all("LABEL"))


def test_the_build_context_leaves_out_local_state(training_image) -> None:
    patterns = dockerignore()
    for path in (
        ".git",
        ".venv",
        ".venv-checkov/bin/checkov",
        ".mlflow/mlflow.db",
        "tests/conftest.py",
        "node_modules/x",
        "trainer/__pycache__/cli.cpython-311.pyc",
    ):
        assert ignored(Path(path), patterns), path
    for path in ("trainer/cli.py", "requirements.txt", "configs/solubility/rf.yaml", "data/solubility.csv", "tasks.py"):
        assert not ignored(Path(path), patterns), path


def test_app_holds_what_the_code_hash_and_maintenance_read(training_image, tmp_path: Path) -> None:
    app = tmp_path / "app"
    lay_out_app(training_image[-1], app)
    for needed in (
        "requirements.txt",
        "trainer/__main__.py",
        "trainer/runkey.py",
        "trainer/models/rf.py",
        "configs/solubility/rf.yaml",
        "data/solubility.csv",
        "tasks.py",
        "invoke.yaml",
        "ops/lint.py",
    ):
        assert (app / needed).is_file(), needed
    assert not list(app.rglob("__pycache__"))
    assert not (app / "tests").exists()


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    rows = (ROOT / "data" / "solubility.csv").read_text().splitlines()
    data = tmp_path / "tiny.csv"
    data.write_text("\n".join([rows[0], *rows[1::20]]) + "\n")
    config = tmp_path / "tiny-rf.yaml"
    document = {
        "data": {"path": str(data), "target_column": "logS", "on_invalid": "drop"},
        "endpoint": {"name": "solubility", "unit": "logS"},
        "model": {"family": "rf", "features": {"morgan_size": 64, "descriptors": "none"}, "n_estimators": 4},
    }
    config.write_text(yaml.safe_dump(document))
    return config


def test_the_entrypoint_trains_once_into_a_temporary_store_then_skips(
    training_image, tiny_config: Path, tmp_path: Path
) -> None:
    final = training_image[-1]
    app = tmp_path / "app"
    lay_out_app(final, app)
    entrypoint = json.loads(final.all("ENTRYPOINT")[0])
    assert entrypoint[0] == "python"
    argv = [sys.executable, *entrypoint[1:], "--config", str(tiny_config)]
    image_env = {name: value.replace("$GIT_SHA", GIT_SHA) for name, value in final.env().items() if name != "PATH"}
    store = tmp_path / "store" / "mlflow.db"
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("MLFLOW_", "GIT_"))},
        **image_env,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
    }

    first = subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert " trained " in first.stdout
    second = subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert " skipped " in second.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    (run,) = client.search_runs([experiment.experiment_id for experiment in client.search_experiments()])
    assert run.info.status == "FINISHED"
    assert run.data.tags["run_complete"] == "true"
    assert run.data.tags["git_sha"] == GIT_SHA
    assert run.data.tags["model_family"] == "rf"
    # The image's copy of the code hashes exactly as the repository does: same key, inside or outside.
    assert run.data.tags["run_key"] == prepare(tiny_config).parts.run_key
