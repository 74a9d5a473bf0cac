"""One training per key across machines: a claim in the tracking store, taken before fitting.

The per-machine flock (trainer/lock.py) cannot see a trainer on another machine. When TRAINER_CLAIM_URI names
the tracking store that every trainer shares, a trainer claims its key there instead:

- The claim is the MLflow experiment `<prefix>/<key>/<generation>`. Experiment names are unique in MLflow's
  database, so its creation succeeds for exactly one trainer, whichever machine it is on; the store every
  trainer already reaches is the only shared service needed.
- Releasing deletes the experiment. MLflow keeps a deleted experiment's name, so a generation is never created
  twice and a late trainer cannot take a claim that has already moved on.
- The holder bumps the claim's `heartbeat` tag every TRAINER_CLAIM_HEARTBEAT seconds. A waiting trainer times
  how long that counter has not changed on its own monotonic clock (no two machines' clocks are compared);
  after TRAINER_CLAIM_EXPIRY seconds the holder is taken for dead (SIGKILL, instance lost) and the waiter
  creates the next generation, which again only one trainer can.
- Different keys are different names, so they never wait for each other. On a SQLite store without
  TRAINER_CLAIM_URI the flock stays: one training at a time, as SQLite wants.

`mlflow gc` forgets deleted claims' names: run it with no training running, as `invoke maintenance` does.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field, ValidationError, model_validator

from trainer.errors import BadInput, ProjectError
from trainer.lock import exclusive, lock_path
from trainer.strict import Strict

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Experiment

URI_VARIABLE = "TRAINER_CLAIM_URI"
VARIABLES = {
    "prefix": "TRAINER_CLAIM_PREFIX",
    "heartbeat": "TRAINER_CLAIM_HEARTBEAT",
    "expiry": "TRAINER_CLAIM_EXPIRY",
}
HEARTBEAT_TAG, HOLDER_TAG = "heartbeat", "holder"
GENERATION_DIGITS = 6

Tell = Callable[[str], None]


class ClaimTimeout(ProjectError):
    """Another trainer held the key's claim for longer than this one was willing to wait."""


class ClaimSettings(Strict):
    """Where claims live and how fast a dead holder stops blocking; read from the environment."""

    uri: str = Field(min_length=1)
    prefix: str = Field("ai-drug-claim", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    heartbeat: float = Field(10.0, gt=0, le=3600)
    expiry: float = Field(60.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _expiry_outlasts_beats(self) -> ClaimSettings:
        if self.expiry < 3 * self.heartbeat:
            raise ValueError(
                f"must be at least 3 x {VARIABLES['heartbeat']} ({self.heartbeat:g} s), "
                "or a slow beat passes for a dead holder"
            )
        return self

    @property
    def poll(self) -> float:
        return min(self.heartbeat, 2.0)


def claim_settings(env: Mapping[str, str]) -> ClaimSettings | None:
    """The claim settings, or None when TRAINER_CLAIM_URI is unset (the flock alone serves)."""
    if not env.get(URI_VARIABLE):
        return None
    values: dict[str, object] = {"uri": env[URI_VARIABLE]}
    for field, variable in VARIABLES.items():
        if (text := env.get(variable)) is None:
            continue
        if field == "prefix":
            values[field] = text
            continue
        try:
            values[field] = float(text)
        except ValueError:
            raise BadInput(f"{variable}: {text!r} is not a number of seconds") from None
    try:
        return ClaimSettings(**values)
    except ValidationError as err:
        first = err.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "expiry"
        variable = VARIABLES.get(field, URI_VARIABLE)
        raise BadInput(f"{variable}: {first['msg'].removeprefix('Value error, ')}") from None


@contextmanager
def one_training(store_uri: str, run_key: str, timeout: float, tell: Tell) -> Iterator[None]:
    """Hold the right to train `run_key`: a claim in the shared store when one is set, else the flock."""
    settings = claim_settings(os.environ)
    if settings is None:
        waiting = f"waiting for another training on this store (up to {timeout:g} s)"
        with exclusive(lock_path(store_uri), timeout, on_wait=lambda: tell(waiting)):
            yield
        return
    with Claim(settings, run_key).held(timeout, tell):
        yield


@dataclass
class _Seen:
    """A heartbeat value and when (on this machine's monotonic clock) it was first seen."""

    generation: int
    beat: str | None
    since: float


class Claim:
    """The claim on one key in one store."""

    def __init__(self, settings: ClaimSettings, run_key: str) -> None:
        self.settings, self.run_key = settings, run_key
        self.base = f"{settings.prefix}/{run_key}/"

    @property
    def client(self) -> MlflowClient:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.settings.uri)

    @contextmanager
    def held(self, timeout: float, tell: Tell) -> Iterator[None]:
        client = self.client
        experiment_id = self._take(client, timeout, tell)
        stop = threading.Event()
        beats = threading.Thread(target=self._beat, args=(client, experiment_id, stop, tell), daemon=True)
        beats.start()
        try:
            yield
        finally:
            stop.set()
            beats.join(timeout=self.settings.heartbeat)
            try:
                client.delete_experiment(experiment_id)
            except Exception as err:
                tell(f"could not release the claim ({type(err).__name__}); it expires in {self.settings.expiry:g} s")

    def _take(self, client: MlflowClient, timeout: float, tell: Tell) -> str:
        """Create the next free generation; wait while a live holder has the current one."""
        from mlflow.exceptions import MlflowException

        deadline = time.monotonic() + timeout
        seen: _Seen | None = None
        told = False
        while True:
            latest = self._latest(client)
            stale = None
            if latest is None:
                generation = 0
            elif latest.lifecycle_stage == "deleted":
                generation = self._generation(latest) + 1
            else:
                generation, beat = self._generation(latest), latest.tags.get(HEARTBEAT_TAG)
                if seen is None or (seen.generation, seen.beat) != (generation, beat):
                    seen = _Seen(generation, beat, time.monotonic())
                silent = time.monotonic() - seen.since
                if silent >= self.settings.expiry:
                    tell(
                        f"taking over the claim of {latest.tags.get(HOLDER_TAG, '?')}: "
                        f"its heartbeat has not changed for {silent:.0f} s"
                    )
                    stale, generation = latest, generation + 1
                else:
                    generation = None
                    if not told:
                        holder = latest.tags.get(HOLDER_TAG, "?")
                        tell(f"waiting for another training of this key ({holder}; up to {timeout:g} s)")
                        told = True
            if generation is not None:
                try:
                    taken = client.create_experiment(
                        f"{self.base}{generation:0{GENERATION_DIGITS}d}",
                        tags={HOLDER_TAG: _holder(), HEARTBEAT_TAG: "0"},
                    )
                except MlflowException as err:
                    if err.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
                else:
                    if stale is not None:
                        _forget(client, stale.experiment_id)
                    return taken
            if time.monotonic() >= deadline:
                holder = latest.tags.get(HOLDER_TAG, "?") if latest is not None else "?"
                raise ClaimTimeout(f"key {self.run_key[:12]} is still claimed by {holder} after {timeout:g} s")
            time.sleep(self.settings.poll)

    def _latest(self, client: MlflowClient) -> Experiment | None:
        """The key's claim with the highest generation, deleted (released) ones included."""
        from mlflow.entities import ViewType

        found = client.search_experiments(
            view_type=ViewType.ALL, filter_string=f"name LIKE '{self.base}%'", max_results=1000
        )
        return max(found, key=self._generation, default=None)

    def _generation(self, experiment: Experiment) -> int:
        return int(experiment.name.removeprefix(self.base))

    def _beat(self, client: MlflowClient, experiment_id: str, stop: threading.Event, tell: Tell) -> None:
        from mlflow.exceptions import MlflowException

        count = 0
        while not stop.wait(self.settings.heartbeat):
            count += 1
            try:
                client.set_experiment_tag(experiment_id, HEARTBEAT_TAG, str(count))
            except MlflowException as err:
                if err.error_code == "INVALID_PARAMETER_VALUE":
                    tell("lost the claim: another trainer took it over after heartbeats did not arrive")
                    return
            except Exception:
                continue  # a network blip: waiters give the holder `expiry` seconds


def _holder() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def _forget(client: MlflowClient, experiment_id: str) -> None:
    """Delete a dead holder's claim, for tidiness; the next generation already supersedes it."""
    try:
        client.delete_experiment(experiment_id)
    except Exception:
        return
