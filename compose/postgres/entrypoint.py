"""Start `mlflow server` on PostgreSQL with the database password read at start, never written down.

The password comes from a file (a docker secret, MLFLOW_DB_PASSWORD_FILE) or from SSM Parameter Store
(MLFLOW_DB_PASSWORD_PARAMETER, decrypted; `/aws/reference/secretsmanager/<secret arn>` reads the secret that
RDS manages, whose JSON holds the password). It goes into MLFLOW_BACKEND_STORE_URI in the server's own
environment, so it is in no compose file, no command line (`ps` shows argv to every user) and no image.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

REQUIRED = ("MLFLOW_DB_HOST", "MLFLOW_DB_NAME", "MLFLOW_DB_USER")


def password(env: dict[str, str]) -> str:
    if path := env.get("MLFLOW_DB_PASSWORD_FILE"):
        text = Path(path).read_text().strip()
    elif name := env.get("MLFLOW_DB_PASSWORD_PARAMETER"):
        import boto3

        ssm = boto3.client("ssm", region_name=env.get("AWS_DEFAULT_REGION"))
        text = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    else:
        raise SystemExit("error: set MLFLOW_DB_PASSWORD_FILE or MLFLOW_DB_PASSWORD_PARAMETER")
    if text.startswith("{"):
        text = json.loads(text)["password"]  # a Secrets Manager secret: {"username": ..., "password": ...}
    if not text:
        raise SystemExit("error: the database password is empty")
    return text


def backend_uri(env: dict[str, str]) -> str:
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise SystemExit(f"error: set {', '.join(missing)}")
    user, secret = quote(env["MLFLOW_DB_USER"], safe=""), quote(password(env), safe="")
    where = f"{env['MLFLOW_DB_HOST']}:{env.get('MLFLOW_DB_PORT', '5432')}/{env['MLFLOW_DB_NAME']}"
    return f"postgresql+psycopg://{user}:{secret}@{where}?sslmode={env.get('MLFLOW_DB_SSLMODE', 'require')}"


def main(argv: list[str]) -> None:
    env = dict(os.environ)
    env["MLFLOW_BACKEND_STORE_URI"] = backend_uri(env)
    os.execvpe("mlflow", ["mlflow", "server", *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
