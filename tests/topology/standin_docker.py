"""A stand-in `docker` for the host script: login, pull and run as Docker would do them, strictly.

Its settings come from docker.json beside the link on PATH (written by the topology fixture): the sha256 of
the registry token (never the token), the networks that exist with the address of each service on them, the
image that the registry holds, and the image's folder. Every call is appended to calls.jsonl there.

- `login` accepts the token on stdin only (`--password-stdin`, nothing in argv or the environment) and writes
  DOCKER_CONFIG/config.json as docker does; a wrong token is `unauthorized`.
- `pull` needs that login and the image the registry holds.
- `run` needs a pulled image and an existing network; it starts the Dockerfile's ENTRYPOINT in the image's
  WORKDIR with only the `-e` variables it was given (the container sees no host environment, no AWS
  credentials), names on the network resolving to their services, and passes on the exit code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(sys.argv[0]).absolute().parent
SETTINGS = json.loads((HERE / "docker.json").read_text())


def record(**fields: object) -> None:
    with (HERE / "calls.jsonl").open("a") as log:
        log.write(json.dumps({"argv": sys.argv[1:], "docker_config": os.environ.get("DOCKER_CONFIG"), **fields}) + "\n")


def refuse(message: str, code: int = 1) -> None:
    record(refused=message)
    print(f"docker: {message}", file=sys.stderr)
    raise SystemExit(code)


def login(args: list[str]) -> None:
    if "--password-stdin" not in args or "--password" in args or "-p" in args:
        refuse("login must read the password from stdin")
    secret = sys.stdin.read().strip()
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if digest != SETTINGS["token_sha256"]:
        refuse("unauthorized: incorrect username or password")
    if any(secret in word for word in sys.argv) or any(secret in value for value in os.environ.values()):
        refuse("the token is in the argv or the environment")
    registry, user = args[-1], args[args.index("--username") + 1]
    config = Path(os.environ["DOCKER_CONFIG"])
    config.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    record(event="login", registry=registry)
    print("Login Succeeded")


def pull(args: list[str]) -> None:
    image = args[-1]
    registry = image.split("/")[0]
    config = Path(os.environ.get("DOCKER_CONFIG", "/nonexistent")) / "config.json"
    if not config.exists() or registry not in json.loads(config.read_text())["auths"]:
        refuse(f"pull {image}: unauthorized: authentication required")
    if image != SETTINGS["image"]:
        refuse(f"pull {image}: manifest unknown")
    (HERE / "pulled").write_text(image)
    record(event="pull", image=image)
    print(image)


def run(args: list[str]) -> int:
    options: dict[str, str] = {}
    env: dict[str, str] = {}
    flags = {"--rm"}
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in flags:
            options[flag] = "yes"
        elif flag == "-e":
            name, sep, value = args.pop(0).partition("=")
            if not sep:
                refuse(f"-e {name}: the stand-in passes no host variables into a container")
            env[name] = value
        else:
            options[flag] = args.pop(0)
    image, command = args[0], args[1:]
    pulled = HERE / "pulled"
    if options.get("--pull") != "never" or not pulled.exists() or pulled.read_text() != image:
        refuse(f"run {image}: image not pulled (and --pull never)", 125)
    network = options.get("--network", "bridge")
    if network not in SETTINGS["networks"]:
        refuse(f"run: network {network} not found", 125)
    folder = Path(SETTINGS["image_folder"])
    entrypoint = [sys.executable if word == "python" else word for word in SETTINGS["entrypoint"]]
    container_env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(folder),
        "TMPDIR": SETTINGS["container_tmp"],
        # The image's code; in the real image it is in WORKDIR.
        "PYTHONPATH": f"{HERE / 'network'}:{SETTINGS['code']}",
        # The network's DNS: service names resolve to their addresses (sitecustomize.py in network/).
        "STANDIN_HOSTS": json.dumps(SETTINGS["networks"][network]),
        **env,
    }
    record(event="run", image=image, network=network, env=env, command=command)
    finished = subprocess.run([*entrypoint, *command], cwd=folder / SETTINGS["workdir"].lstrip("/"), env=container_env)
    record(event="exit", code=finished.returncode)
    return finished.returncode


def main() -> int:
    command, args = sys.argv[1], sys.argv[2:]
    if command == "login":
        login(args)
    elif command == "pull":
        pull([word for word in args if word != "--quiet"])
    elif command == "run":
        return run(list(args))
    else:
        refuse(f"{command}: not a command this stand-in knows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
