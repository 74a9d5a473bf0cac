"""The skip look-up for an MLflow server, through its REST API with the standard library alone.

`import mlflow` costs more than a skip is worth; two requests (experiment by name, then a run search with
the filter of `trainer.tracking`) answer the same question as `MlflowClient.search_runs`, which
tests/trainer/test_rest_lookup.py holds them to on a real server. Credentials are read as MLflow's client
reads them: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request

from trainer.errors import ProjectError
from trainer.tracking_server import seconds_setting

TIMEOUT_VARIABLE = "MLFLOW_HTTP_REQUEST_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 120.0


def newest_finished_run(uri: str, experiment: str, search_filter: str) -> str | None:
    """The id of the newest active run of `experiment` that matches `search_filter`; None without the experiment."""
    query = urllib.parse.urlencode({"experiment_name": experiment})
    found = _call(uri, f"experiments/get-by-name?{query}", None)
    if found is None:
        return None
    body = {
        "experiment_ids": [found["experiment"]["experiment_id"]],
        "filter": search_filter,
        "order_by": ["attributes.start_time DESC"],
        "max_results": 1,
        "run_view_type": "ACTIVE_ONLY",
    }
    runs = (_call(uri, "runs/search", body) or {}).get("runs", [])
    return runs[0]["info"]["run_id"] if runs else None


def _call(uri: str, endpoint: str, body: dict | None) -> dict | None:
    """One request to the server's API; None when the server says the resource does not exist."""
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/{endpoint}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=_headers(data is not None))
    timeout = seconds_setting(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT_SECONDS) or None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        detail = _error_body(err)
        if err.code == 404 and detail.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise ProjectError(f"{uri}: {endpoint.split('?')[0]} answered {err.code}: {detail.get('message', '')}") from err
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise ProjectError(f"{uri}: tracking server unreachable ({getattr(err, 'reason', err)})") from err


def _headers(has_body: bool) -> dict[str, str]:
    headers = {"Content-Type": "application/json"} if has_body else {}
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    elif (user := os.environ.get("MLFLOW_TRACKING_USERNAME")) and (
        password := os.environ.get("MLFLOW_TRACKING_PASSWORD")
    ):
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return headers


def _error_body(err: urllib.error.HTTPError) -> dict:
    try:
        parsed = json.loads(err.read())
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
