"""aws/ec2-setup.sh and the user data that runs it, executed by bash with stand-in system commands.

The stand-ins record their argv and keep the state a host would (a device file holds "xfs UUID" once
formatted, a marker file means mounted, the compose plugin exists once installed), so a second run sees
what the first one left.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "aws" / "ec2-setup.sh"
USER_DATA = ROOT / "aws" / "terraform" / "user-data.sh.tftpl"
PLUGIN_BYTES = "compose plugin binary\n"
NEW_UUID = "0d5c2b3a-7e61-4f3e-9a52-6c1d8e2f4b70"
ROOT_LINE = "UUID=aaaa-root / xfs defaults,noatime 1 1"

STANDINS = {
    "dnf": "exit 0",
    "systemctl": "exit 0",
    "chown": "exit 0",
    "mount": 'touch "$STATE/mounted"',
    "mountpoint": '[ -e "$STATE/mounted" ]',
    "docker": """
if [ "$1 $2" = "compose version" ]; then
    [ -x "$CLI_PLUGINS_DIR/docker-compose" ] || exit 1
    echo "Docker Compose version v2.39.4"
fi""",
    "curl": """
out=""; url=""
while [ $# -gt 0 ]; do
    case "$1" in -o) out=$2; shift ;; -*) ;; *) url=$1 ;; esac
    shift
done
case "$url" in
    *.sha256) cat "$STATE/published.sha256" ;;
    *) printf 'compose plugin binary\\n' > "$out" ;;
esac""",
    "blkid": """
[ -e "$STATE/blkid-fails" ] && exit 4
read -r fstype uuid < "${@: -1}" || true
[ "$fstype" = xfs ] || exit 2
case "$*" in *"-s TYPE"*) echo xfs ;; *"-s UUID"*) echo "$uuid" ;; esac""",
    "mkfs.xfs": """
read -r fstype _ < "${@: -1}" || true
[ "$fstype" = xfs ] && { echo "mkfs.xfs: existing filesystem, not overwriting" >&2; exit 1; }
echo "xfs $NEW_UUID" > "${@: -1}" """,
}


@dataclass
class Host:
    """A stand-in host: the folders ec2-setup.sh writes, the device, and the log of commands."""

    tmp: Path

    @property
    def device(self) -> Path:
        return self.tmp / "nvme1n1"

    @property
    def fstab(self) -> Path:
        return self.tmp / "etc" / "fstab"

    @property
    def data_dir(self) -> Path:
        return self.tmp / "opt" / "mlflow"

    @property
    def compose_dir(self) -> Path:
        return self.tmp / "opt" / "ai-drug" / "compose"

    @property
    def plugins(self) -> Path:
        return self.tmp / "cli-plugins"

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.tmp / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "STANDIN_LOG": str(self.tmp / "calls.log"),
            "STATE": str(self.state),
            "COMPOSE_DIR": str(self.compose_dir),
            "DATA_DIR": str(self.data_dir),
            "FSTAB": str(self.fstab),
            "DOCKER_UNIT_DIR": str(self.tmp / "docker.service.d"),
            "CLI_PLUGINS_DIR": str(self.plugins),
            "DATA_DEVICE": str(self.device),
            "DEVICE_WAIT_SECONDS": "0",
            "NEW_UUID": NEW_UUID,
            **extra,
        }

    def run(self, script: Path = SETUP, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(script)], env=self.env(**extra), capture_output=True, text=True, timeout=60)

    def calls(self, name: str | None = None) -> list[str]:
        log = self.tmp / "calls.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [line for line in lines if name is None or line.split()[0] == name]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    host = Host(tmp_path)
    (tmp_path / "bin").mkdir()
    for name, body in STANDINS.items():
        script = tmp_path / "bin" / name
        script.write_text(f'#!/bin/bash\necho "{name} $*" >> "$STANDIN_LOG"\n{body}\n')
        script.chmod(0o755)
    host.state.mkdir()
    digest = hashlib.sha256(PLUGIN_BYTES.encode()).hexdigest()
    (host.state / "published.sha256").write_text(f"{digest} *docker-compose-linux-x86_64\n")
    host.fstab.parent.mkdir()
    host.fstab.write_text(ROOT_LINE + "\n")
    host.compose_dir.mkdir(parents=True)
    (host.compose_dir / "docker-compose.yml").write_text((ROOT / "compose" / "docker-compose.yml").read_text())
    (host.compose_dir / ".env").write_text("MLFLOW_ARTIFACTS_BUCKET=b\nDATA_VOLUME_ID=vol-0123456789abcdef0\n")
    host.device.write_text("")
    return host


def data_line(host: Host, uuid: str = NEW_UUID) -> str:
    return f"UUID={uuid} {host.data_dir} xfs defaults,nofail,noatime 0 2"


def test_first_run_formats_the_blank_volume_mounts_it_by_uuid_and_starts_mlflow(host: Host) -> None:
    done = host.run()
    assert done.returncode == 0, done.stderr
    assert host.calls("mkfs.xfs") == [f"mkfs.xfs -L mlflow-data {host.device}"]
    assert host.fstab.read_text() == f"{ROOT_LINE}\n{data_line(host)}\n"
    assert host.calls("mount") == [f"mount {host.data_dir}"]
    assert host.calls("chown") == [f"chown -R 10001:10001 {host.data_dir}"]
    dropin = host.tmp / "docker.service.d" / "mlflow-data.conf"
    assert dropin.read_text() == f"[Unit]\nRequiresMountsFor={host.data_dir}\n"
    up = f"docker compose --file {host.compose_dir}/docker-compose.yml up --detach --build --wait --wait-timeout 900"
    calls = host.calls()
    # Docker starts only after the volume is mounted, and MLflow only after Docker.
    order = [calls.index(line) for line in (f"mount {host.data_dir}", "systemctl enable --now docker", up)]
    assert order == sorted(order)
    assert "dnf install -y docker" in calls


def test_the_compose_plugin_is_installed_only_after_its_checksum_matches(host: Host) -> None:
    assert host.run().returncode == 0
    plugin = host.plugins / "docker-compose"
    assert plugin.read_text() == PLUGIN_BYTES
    assert os.access(plugin, os.X_OK)
    urls = [line.split()[-1] for line in host.calls("curl")]
    binary = f"https://github.com/docker/compose/releases/download/v2.39.4/docker-compose-linux-{platform.machine()}"
    assert urls == [binary, f"{binary}.sha256"]


def test_a_plugin_that_does_not_match_its_published_checksum_is_refused(host: Host) -> None:
    (host.state / "published.sha256").write_text(f"{'0' * 64}  docker-compose-linux-x86_64\n")
    done = host.run()
    assert done.returncode == 1
    assert "checksum mismatch, not installed" in done.stderr
    assert not (host.plugins / "docker-compose").exists()
    assert not host.calls("mkfs.xfs")
    assert not [line for line in host.calls("docker") if " up " in line]


def test_a_second_run_changes_nothing_and_formats_nothing(host: Host) -> None:
    assert host.run().returncode == 0
    fstab, device = host.fstab.read_bytes(), host.device.read_bytes()
    first = len(host.calls())
    done = host.run()
    assert done.returncode == 0, done.stderr
    again = host.calls()[first:]
    assert not [line for line in again if line.split()[0] in {"mkfs.xfs", "mount", "curl"}]
    assert host.fstab.read_bytes() == fstab
    assert host.device.read_bytes() == device
    assert [line for line in again if " up " in line]


def test_a_volume_that_holds_a_filesystem_is_never_formatted(host: Host) -> None:
    """A volume restored from a snapshot, or reattached to a new instance, keeps its data."""
    host.device.write_text("xfs 7e0f5a1c-restored\n")
    assert host.run().returncode == 0
    assert not host.calls("mkfs.xfs")
    assert host.device.read_text() == "xfs 7e0f5a1c-restored\n"
    assert host.fstab.read_text() == f"{ROOT_LINE}\n{data_line(host, '7e0f5a1c-restored')}\n"


def test_a_stale_line_for_the_mount_point_is_replaced_not_duplicated(host: Host) -> None:
    host.fstab.write_text(f"{ROOT_LINE}\nUUID=old-volume {host.data_dir} xfs defaults 0 2\n")
    assert host.run().returncode == 0
    assert host.fstab.read_text() == f"{ROOT_LINE}\n{data_line(host)}\n"


def test_a_failed_probe_never_leads_to_mkfs(host: Host) -> None:
    (host.state / "blkid-fails").touch()
    done = host.run()
    assert done.returncode == 1
    assert f"cannot probe {host.device} (blkid exit 4); not formatting it" in done.stderr
    assert not host.calls("mkfs.xfs")
    assert host.fstab.read_text() == ROOT_LINE + "\n"


def test_the_volume_is_found_by_its_ebs_id_and_its_absence_stops_the_setup(host: Host) -> None:
    env = host.env()
    del env["DATA_DEVICE"]
    done = subprocess.run(["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    expected = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0 did not appear within 0s"
    assert expected in done.stderr
    assert not host.calls("mkfs.xfs")
    assert not [line for line in host.calls("systemctl") if "docker" in line]


def render_user_data(host_dir: Path, compose_env: str) -> str:
    """What Terraform's templatefile() makes of the template, with the files compute.tf passes to it."""
    blobs = {
        "ec2_setup_sh": SETUP.read_bytes(),
        "docker_compose_yml": (ROOT / "compose" / "docker-compose.yml").read_bytes(),
        "compose_dockerfile": (ROOT / "compose" / "Dockerfile").read_bytes(),
        "compose_env": compose_env.encode(),
    }
    text = USER_DATA.read_text()
    assert text.count("dir=/opt/ai-drug\n") == 1
    text = text.replace("dir=/opt/ai-drug\n", f"dir={host_dir}\n")
    text = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda match: base64.b64encode(blobs[match.group(1)]).decode(), text)
    return text.replace("$${", "${")


def test_user_data_unpacks_the_host_files_and_runs_the_setup(host: Host) -> None:
    host_dir = host.tmp / "opt" / "ai-drug"
    compose_env = "MLFLOW_ARTIFACTS_BUCKET=ai-drug-artifacts-123456789012\nDATA_VOLUME_ID=vol-0123456789abcdef0\n"
    rendered = render_user_data(host_dir, compose_env)
    # EC2 refuses user data above 16 KiB.
    assert len(rendered.encode()) < 16 * 1024
    script = host.tmp / "user-data"
    script.write_text(rendered)
    done = host.run(script)
    assert done.returncode == 0, done.stderr
    assert (host_dir / "ec2-setup.sh").read_bytes() == SETUP.read_bytes()
    for name in ("docker-compose.yml", "Dockerfile"):
        assert (host_dir / "compose" / name).read_bytes() == (ROOT / "compose" / name).read_bytes()
    assert (host_dir / "compose" / ".env").read_text() == compose_env
    assert host.calls("mkfs.xfs") == [f"mkfs.xfs -L mlflow-data {host.device}"]
    assert [line for line in host.calls("docker") if f"--file {host_dir}/compose/docker-compose.yml up" in line]
