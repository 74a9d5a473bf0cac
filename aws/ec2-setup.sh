#!/bin/bash
# Sets up the training host (Amazon Linux 2023); the instance's user data runs it at first boot, and it is
# safe to run again: sudo bash /opt/ai-drug/ec2-setup.sh
#
# Installs Docker and the compose plugin; mounts the MLflow data volume at /opt/mlflow by UUID, formatting it
# only when it holds no filesystem; gives it to the MLflow container's user; starts the MLflow service from
# compose/ beside this script. Docker starts only once /opt/mlflow is mounted, so a missing volume never
# leaves MLflow writing a fresh database onto the root disk.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPOSE_DIR=${COMPOSE_DIR:-$here/compose}
DATA_DIR=${DATA_DIR:-/opt/mlflow}
FSTAB=${FSTAB:-/etc/fstab}
DOCKER_UNIT_DIR=${DOCKER_UNIT_DIR:-/etc/systemd/system/docker.service.d}
CLI_PLUGINS_DIR=${CLI_PLUGINS_DIR:-/usr/local/lib/docker/cli-plugins}
DEVICE_WAIT_SECONDS=${DEVICE_WAIT_SECONDS:-600}
COMPOSE_VERSION=v2.39.4
# The uid of the user in compose/Dockerfile, which the compose service runs as.
MLFLOW_UID=10001

log() { printf 'ec2-setup: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

# A value from compose/.env, which Terraform writes next to the compose file.
env_value() {
    sed -n "s/^$1=//p" "$COMPOSE_DIR/.env" | tail -n 1
}

install_docker() {
    dnf install -y docker
    if docker compose version 2>/dev/null | grep -qF "${COMPOSE_VERSION#v}"; then
        return
    fi
    local url tmp expected
    url=https://github.com/docker/compose/releases/download/$COMPOSE_VERSION/docker-compose-linux-$(uname -m)
    tmp=$(mktemp -d)
    curl -fsSL --retry 5 -o "$tmp/docker-compose" "$url"
    expected=$(curl -fsSL --retry 5 "$url.sha256" | cut -d ' ' -f 1)
    if ! printf '%s  %s\n' "$expected" "$tmp/docker-compose" | sha256sum --check --quiet -; then
        rm -rf "$tmp"
        die "docker compose $COMPOSE_VERSION: checksum mismatch, not installed"
    fi
    install -D -m 0755 "$tmp/docker-compose" "$CLI_PLUGINS_DIR/docker-compose"
    rm -rf "$tmp"
}

# The data volume's device: its NVMe id names the EBS volume, whatever order the kernel found the disks in.
data_device() {
    if [[ -n ${DATA_DEVICE:-} ]]; then
        printf '%s\n' "$DATA_DEVICE"
        return
    fi
    local volume_id
    volume_id=$(env_value DATA_VOLUME_ID)
    [[ -n $volume_id ]] || die "DATA_VOLUME_ID missing from $COMPOSE_DIR/.env"
    printf '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_%s\n' "${volume_id/-/}"
}

wait_for_device() {
    local waited=0
    until [[ -e $1 ]]; do
        ((waited < DEVICE_WAIT_SECONDS)) || die "$1 did not appear within ${DEVICE_WAIT_SECONDS}s; is the volume attached?"
        sleep 5
        waited=$((waited + 5))
    done
}

mount_data_volume() {
    local device fstype status uuid entry
    device=$(data_device)
    wait_for_device "$device"

    # blkid -p exits 2 when it finds no filesystem; any other failure must never lead to mkfs.
    status=0
    fstype=$(blkid -p -o value -s TYPE "$device") || status=$?
    if ((status == 2)); then
        log "formatting $device: it holds no filesystem"
        mkfs.xfs -L mlflow-data "$device"
        fstype=xfs
    elif ((status != 0)); then
        die "cannot probe $device (blkid exit $status); not formatting it"
    fi
    uuid=$(blkid -p -o value -s UUID "$device")
    [[ -n $uuid ]] || die "no filesystem UUID on $device"

    entry="UUID=$uuid $DATA_DIR $fstype defaults,nofail,noatime 0 2"
    if ! grep -qxF "$entry" "$FSTAB"; then
        # Drop an older line for the same mount point (a replaced volume), then add ours once.
        local kept
        kept=$(awk -v dir="$DATA_DIR" '$2 != dir' "$FSTAB")
        {
            [[ -z $kept ]] || printf '%s\n' "$kept"
            printf '%s\n' "$entry"
        } > "$FSTAB"
    fi
    install -d -m 0755 "$DATA_DIR"
    mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
    chown -R "$MLFLOW_UID:$MLFLOW_UID" "$DATA_DIR"
}

start_docker() {
    install -d -m 0755 "$DOCKER_UNIT_DIR"
    printf '[Unit]\nRequiresMountsFor=%s\n' "$DATA_DIR" > "$DOCKER_UNIT_DIR/mlflow-data.conf"
    systemctl daemon-reload
    systemctl enable --now docker
}

start_mlflow() {
    docker compose --file "$COMPOSE_DIR/docker-compose.yml" up --detach --build --wait --wait-timeout 900
}

install_docker
mount_data_volume
start_docker
start_mlflow
log "MLflow is up; data on $DATA_DIR"
