"""Exactly once across machines: trainers that share an MLflow server on PostgreSQL but no flock."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.scale_out.conftest import Server, WriteConfig, trainer
from trainer.claim import Claim, ClaimSettings, ClaimTimeout, claim_settings
from trainer.errors import BadInput
from trainer.pipeline import prepare
from trainer.tracking import COMPLETE_TAG


def _claims(uri: str, **extra: str) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": uri, "TRAINER_CLAIM_URI": uri, **extra}


def _runs_of(client: MlflowClient, experiment: str, key: str):
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], f"tags.run_key = '{key}'") if found else []


def test_eight_trainers_on_four_keys_train_each_key_once(pg_server: Server, write_config: WriteConfig, tmp_path):
    configs = [
        write_config("xgb", "xgb-a", "once", seed=1),
        write_config("xgb", "xgb-b", "once", seed=2),
        write_config("rf", "rf-a", "once", seed=1),
        write_config("rf", "rf-b", "once", seed=2),
    ]
    keys = {config: prepare(config).parts.run_key for config in configs}
    assert len(set(keys.values())) == 4
    env = _claims(pg_server.url, TRAINER_CLAIM_HEARTBEAT="1", TRAINER_CLAIM_EXPIRY="60")
    processes = [
        (config, trainer("--config", str(config), env=env, tmp=tmp_path / f"machine-{number}"))
        for number, config in enumerate(configs * 2)
    ]
    outcomes: dict[Path, list[tuple[str, str]]] = {config: [] for config in configs}
    for config, process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        fields = stdout.split()
        outcomes[config].append((fields[2], fields[4]))
    client = MlflowClient(pg_server.url)
    for config, seen in outcomes.items():
        assert sorted(action for action, _ in seen) == ["skipped", "trained"], (config, seen)
        assert seen[0][1] == seen[1][1], "the skipper names the run the trainer made"
        runs = _runs_of(client, "once", keys[config])
        assert [run.info.run_id for run in runs] == [seen[0][1]]
        assert runs[0].data.tags[COMPLETE_TAG] == "true"
    # Every claim was released: no active claim experiment is left.
    active = client.search_experiments(filter_string="name LIKE 'ai-drug-claim/%'")
    assert [experiment.name for experiment in active] == []


def test_without_claims_two_machines_train_the_same_key_twice(pg_server: Server, write_config: WriteConfig, tmp_path):
    """The control: separate temp folders mean separate flocks, so the claim is what makes the test above pass."""
    config = write_config("xgb", "control", "control", seed=7)
    env = {"MLFLOW_TRACKING_URI": pg_server.url}
    processes = [trainer("--config", str(config), env=env, tmp=tmp_path / f"machine-{n}") for n in range(2)]
    actions = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        actions.append(stdout.split()[2])
    assert actions == ["trained", "trained"]


def test_a_sigkilled_claimant_stops_blocking_once_its_heartbeat_expires(
    pg_server: Server, write_config: WriteConfig, tmp_path
) -> None:
    heartbeat, expiry = 0.5, 4.0
    config = write_config("rf", "killed", "killed", n_estimators=300)
    key = prepare(config).parts.run_key
    env = _claims(pg_server.url, TRAINER_CLAIM_HEARTBEAT=str(heartbeat), TRAINER_CLAIM_EXPIRY=str(expiry))
    client = MlflowClient(pg_server.url)
    first = trainer("--config", str(config), env=env, tmp=tmp_path / "machine-1")
    deadline = time.monotonic() + 120
    while not [run for run in _runs_of(client, "killed", key) if run.info.status == "RUNNING"]:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first trainer never started its run"
        time.sleep(0.05)
    second = trainer("--config", str(config), env=env, tmp=tmp_path / "machine-2")
    errors = _Lines(second)
    errors.wait_for("waiting for another training of this key", second)
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    first.communicate()

    base = f"ai-drug-claim/{key}/"
    while not client.search_experiments(view_type=ViewType.ALL, filter_string=f"name = '{base}000001'"):
        assert time.monotonic() - killed_at < 60, "nobody took the claim over"
        time.sleep(0.05)
    takeover = time.monotonic() - killed_at
    poll = min(heartbeat, 2.0)
    # It waited for the heartbeat to expire, and not much longer (the README's bound: expiry + one poll).
    assert expiry - heartbeat - poll <= takeover <= expiry + poll + 2.0, takeover

    stdout = second.stdout.read()
    second.wait(timeout=300)
    stderr = errors.text()
    assert second.returncode == 0, stderr
    assert stdout.split()[2] == "trained", stdout
    assert "taking over the claim of" in stderr and "heartbeat has not changed for" in stderr
    statuses = sorted(run.info.status for run in _runs_of(client, "killed", key))
    assert statuses == ["FINISHED", "RUNNING"], "the killed run stays RUNNING and does not block"


class _Lines:
    """A process's stderr, read line by line on a thread, so the test can wait for one line."""

    def __init__(self, process) -> None:
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(process.stderr), daemon=True)
        self.reader.start()

    def wait_for(self, text: str, process) -> None:
        deadline = time.monotonic() + 120
        while not any(text in line for line in self.lines):
            assert process.poll() is None, self.lines
            assert time.monotonic() < deadline, self.lines
            time.sleep(0.05)

    def text(self) -> str:
        self.reader.join(timeout=30)
        return "".join(self.lines)


@pytest.fixture
def sqlite_claims(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'claims.db'}"


def test_a_held_key_times_out_in_one_error_while_other_keys_go_ahead(sqlite_claims: str) -> None:
    settings = ClaimSettings(uri=sqlite_claims, heartbeat=0.2, expiry=30)
    told: list[str] = []
    with Claim(settings, "a" * 64).held(5, told.append):
        started = time.monotonic()
        with Claim(settings, "b" * 64).held(5, told.append):
            assert time.monotonic() - started < 2, "a different key does not wait"
        refused = pytest.raises(ClaimTimeout, match=r"key aaaaaaaaaaaa is still claimed by .* pid \d+ after 1 s")
        with refused, Claim(settings, "a" * 64).held(1, told.append):
            pytest.fail("took a claim that was held")
    assert any("waiting for another training of this key" in line for line in told)
    # Released: the next trainer of that key takes generation 1 at once.
    with Claim(settings, "a" * 64).held(1, told.append):
        names = [e.name for e in MlflowClient(sqlite_claims).search_experiments(filter_string="name LIKE 'ai%'")]
        assert names == [f"ai-drug-claim/{'a' * 64}/000001"]


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"TRAINER_CLAIM_HEARTBEAT": "soon"}, "TRAINER_CLAIM_HEARTBEAT: 'soon' is not a number of seconds"),
        ({"TRAINER_CLAIM_HEARTBEAT": "0"}, "TRAINER_CLAIM_HEARTBEAT: Input should be greater than 0"),
        ({"TRAINER_CLAIM_HEARTBEAT": "10", "TRAINER_CLAIM_EXPIRY": "20"}, "TRAINER_CLAIM_EXPIRY: must be at least 3"),
        ({"TRAINER_CLAIM_PREFIX": "a/b"}, "TRAINER_CLAIM_PREFIX: String should match pattern"),
    ],
)
def test_bad_claim_settings_name_the_variable(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(BadInput) as refused:
        claim_settings({"TRAINER_CLAIM_URI": "http://127.0.0.1:1", **env})
    assert str(refused.value).startswith(complaint)
    assert claim_settings({}) is None
