"""The deployed whole on loopback, once per test session.

moto's server plays AWS (S3, SSM with the SecureString token, EC2 with the instance); the compose file's own
services run as processes (`mlflow server` with its flags, Litestream beside it, see services.py); the host
script that `invoke dispatch` sends to SSM is taken back out of moto and run by bash with the real `aws` CLI
and a strict stand-in `docker` (standin_docker.py) that starts `python -m trainer` the way the image would.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse

from ops.commands import FAILURES, dispatch
from ops.settings import load_settings
from ops.transport import Polling
from tests.conftest import HEAD_SHA, TINY_PARAMS, write_tiny_snapshot
from tests.topology import services
from tests.topology.services import BIN, ROOT, Compose, Service
from trainer.errors import guard

BUCKET = "ai-drug-artifacts-topology"
TOPOLOGY_FAMILIES = ("rf", "xgb")
CONFIGS = tuple(f"topology-{family}" for family in TOPOLOGY_FAMILIES)


@dataclass(frozen=True)
class Dispatched:
    """One `invoke dispatch` and the host script's run: exit codes, output, and argv/environ seen to hold the
    token while it ran."""

    dispatch_code: int
    dispatch_out: str
    script: str
    code: int
    out: str
    err: str
    token_seen_in: list[str]

    def lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.startswith("configs/")]


@dataclass
class Host:
    compose: Compose
    settings: dict
    data_dir: Path
    standins: Path
    image: Path
    address: str
    port: int
    token: str
    aws_env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The server as an operator reaches it (its public name, in MLFLOW_PUBLIC_HOSTS)."""
        return f"http://{self.address}:{self.port}"

    @property
    def db(self) -> Path:
        return self.data_dir / "mlruns.db"

    @property
    def replica(self) -> str:
        return f"s3://{BUCKET}/litestream/mlruns.db"

    def start(self, name: str) -> Service:
        service = services.start(
            self.compose,
            name,
            host_dirs={"/opt/mlflow": self.data_dir},
            address=self.address,
            aws_env=self.aws_env,
            log=self.data_dir.parent / f"{name}.log",
        )
        self.services[name] = service
        if name == "mlflow":
            services.wait_healthy(service, f"{self.url}/health", f"localhost:{self.port}")
        return service

    def calls(self) -> list[dict]:
        log = self.standins / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def dispatch(self, configs: tuple[str, ...] = CONFIGS, **host_settings: str) -> Dispatched:
        """`invoke dispatch` to moto's SSM, then the command text SSM holds, run by bash on this 'host'."""
        document = json.loads(json.dumps(self.settings))
        document["host"].update(host_settings)
        settings = load_settings(document, {})
        polling = Polling(interval=1, sleep=lambda _: None)
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(shown):
            job = partial(dispatch, settings, root=ROOT, sha=HEAD_SHA, configs=configs, polling=polling)
            code = guard(job, FAILURES)
        if code != 0:
            pytest.fail(f"invoke dispatch exited {code}: {shown.getvalue()}")
        ssm = boto3.client("ssm", region_name=settings.aws.region)
        command_id = re.search(r"SSM command (\S+) sent", shown.getvalue())[1]
        (sent,) = ssm.list_commands(CommandId=command_id)["Commands"]
        (script,) = sent["Parameters"]["commands"]
        env = {"PATH": f"{self.standins}:{BIN}:/usr/bin:/bin", "HOME": str(self.data_dir.parent), **self.aws_env}
        with TokenWatch(self.token) as watch:
            done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600)
        return Dispatched(code, shown.getvalue(), script, done.returncode, done.stdout, done.stderr, watch.seen)


class TokenWatch:
    """Scans every process's argv and environment while a host script runs, for the token."""

    def __init__(self, token: str) -> None:
        self.needle = token.encode()
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, daemon=True)

    def __enter__(self) -> TokenWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _scan(self) -> None:
        mine = os.getpid()
        while not self._stop.is_set():
            for proc in Path("/proc").glob("[0-9]*"):
                if int(proc.name) == mine:
                    continue  # the test process holds the token itself, to look for it
                for part in ("cmdline", "environ"):
                    try:
                        if self.needle in (proc / part).read_bytes():
                            self.seen.append(f"{proc.name}/{part}: {(proc / 'cmdline').read_bytes()[:200]!r}")
                    except OSError:
                        continue
            self._stop.wait(0.02)


def _image_folder(folder: Path) -> tuple[Path, list[str], str]:
    """The training image's files as its Dockerfile lays them out (WORKDIR, tiny configs and data), and its
    ENTRYPOINT and WORKDIR read from the Dockerfile."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    entrypoint = json.loads(next(line for line in reversed(lines) if line.startswith("ENTRYPOINT "))[11:])
    workdir = next(line for line in reversed(lines) if line.startswith("WORKDIR ")).split()[1]
    app = folder / workdir.lstrip("/")
    write_tiny_snapshot(app / "data" / "tiny.csv")
    (app / "configs").mkdir(parents=True)
    for family in TOPOLOGY_FAMILIES:
        document = {
            "endpoint": {"name": "solubility", "unit": "logS"},
            "data": {"path": "data/tiny.csv", "target_column": "logS", "on_invalid": "drop"},
            "model": {"family": family, **TINY_PARAMS[family]},
        }
        (app / "configs" / f"topology-{family}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return folder, entrypoint, workdir


def _standins(folder: Path, host: Host, entrypoint: list[str], workdir: str) -> None:
    folder.mkdir()
    docker = folder / "docker"
    docker.write_text(f"#!{sys.executable}\n" + (Path(__file__).parent / "standin_docker.py").read_text())
    docker.chmod(0o755)
    (folder / "network").mkdir()
    shutil.copy(Path(__file__).parent / "network_dns.py", folder / "network" / "sitecustomize.py")
    (folder / "container-tmp").mkdir()
    settings = host.settings
    image = f"{settings['image']['registry']}/{settings['image']['owner']}/{settings['image']['name']}:{HEAD_SHA}"
    (folder / "docker.json").write_text(
        json.dumps(
            {
                "token_sha256": hashlib.sha256(host.token.encode()).hexdigest(),
                "image": image,
                # The compose network and its one DNS name for the server: its service name.
                "networks": {host.compose.network: {"mlflow": host.address}},
                "image_folder": str(host.image),
                "entrypoint": entrypoint,
                "workdir": workdir,
                "code": str(ROOT),
                "container_tmp": str(folder / "container-tmp"),
            }
        )
    )


@pytest.fixture(scope="session")
def host(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """AWS on moto, the compose services running, the stand-ins ready; nothing dispatched yet."""
    base = tmp_path_factory.mktemp("topology")
    settings = yaml.safe_load((ROOT / "invoke.yaml").read_text())
    region = settings["aws"]["region"]
    token = "ghp_" + secrets.token_hex(18)
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": region}
    )
    boto3.client("ssm", region_name=region).put_parameter(
        Name=settings["aws"]["token_parameter"], Value=token, Type="SecureString"
    )
    instance = boto3.client("ec2", region_name=region).run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    settings["aws"]["instance_id"] = instance["Instances"][0]["InstanceId"]
    data_dir = base / "opt-mlflow"
    data_dir.mkdir()
    settings["host"]["data_dir"] = str(data_dir)

    compose_probe = Compose.read({})
    port = compose_probe.published_port("mlflow")
    address = services.loopback_with_free_port(port)
    dotenv = {
        "MLFLOW_ARTIFACTS_BUCKET": BUCKET,
        "MLFLOW_PUBLIC_HOSTS": f"{address}:{port}",
        "AWS_DEFAULT_REGION": region,
    }
    aws_env = {name: os.environ[name] for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    image, entrypoint, workdir = _image_folder(base / "image")
    host = Host(Compose.read(dotenv), settings, data_dir, base / "bin", image, address, port, token, aws_env)
    _standins(host.standins, host, entrypoint, workdir)

    # moto 5.2 lacks DescribeInstanceInformation: the default session answers it, as a managed Online instance.
    saved_session = boto3.DEFAULT_SESSION
    session = boto3.session.Session()

    def managed(**_: object) -> tuple[AWSResponse, dict]:
        listing = [{"InstanceId": settings["aws"]["instance_id"], "PingStatus": "Online", "PlatformType": "Linux"}]
        return AWSResponse(None, 200, {}, None), {"InstanceInformationList": listing}

    session.events.register("before-call.ssm.DescribeInstanceInformation", managed)
    boto3.DEFAULT_SESSION = session
    try:
        host.start("mlflow")
        host.start("litestream")
        yield host
    finally:
        boto3.DEFAULT_SESSION = saved_session
        for service in host.services.values():
            service.stop()
