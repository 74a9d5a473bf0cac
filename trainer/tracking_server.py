"""A tracking server that does not answer: found before any work starts, and reported while it is down.

MLflow's HTTP client retries each request for about 250 s by default, silently, so a wrong
MLFLOW_TRACKING_URI or a long outage looked like a hang. Here the server is asked once, with a short bounded
retry, before anything else; MLflow's own retries are bounded by a window; and urllib3's retry records, which
every MLflow request goes through, become one line on stderr when the server stops answering and one when it
answers again. Nothing here imports MLflow.
"""

from __future__ import annotations

import logging
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from trainer.errors import BadInput, ProjectError

CHECK_VARIABLE = "TRAINER_SERVER_CHECK"
RETRY_VARIABLE = "TRAINER_SERVER_RETRY"
CHECK_SECONDS, RETRY_SECONDS = 5.0, 120.0
RETRY_LIMIT = 10  # MLflow refuses more retries than this
URLLIB3_LOGGER = "urllib3.connectionpool"


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def seconds_setting(name: str, default: float, environ: Mapping[str, str] = os.environ) -> float:
    """A number of seconds >= 0 from the environment variable `name`; BadInput naming it otherwise."""
    text = environ.get(name, "")
    if not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value >= 0 and math.isfinite(value)):
        raise BadInput(f"{name}: {text!r} is not a number of seconds >= 0")
    return value


def reach(uri: str, say: Callable[[str], None], environ: Mapping[str, str] = os.environ) -> None:
    """For a server store: one bounded check before any work, then bounded retries that say when the server
    stops and starts answering. Nothing for a SQLite store."""
    if not is_server(uri):
        return
    retry = seconds_setting(RETRY_VARIABLE, RETRY_SECONDS, environ)
    check_reachable(uri, seconds_setting(CHECK_VARIABLE, CHECK_SECONDS, environ))
    bound_retries(uri, retry, say)


def check_reachable(uri: str, wait: float) -> None:
    """Return once `uri`'s /health answers; ProjectError naming the URI when it has not within `wait` seconds."""
    deadline = time.monotonic() + wait
    delay = 0.25
    while True:
        problem = _health_problem(uri, timeout=max(1.0, min(5.0, wait)))
        if problem is None:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProjectError(
                f"tracking server {uri} does not answer ({problem}) after {wait:g} s; "
                f"check MLFLOW_TRACKING_URI and that the server is up ({CHECK_VARIABLE} sets the wait)"
            )
        time.sleep(min(delay, left))
        delay *= 2


def _health_problem(uri: str, timeout: float) -> str | None:
    """None when the server answers; any HTTP answer but a gateway's 5xx means it is up."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return None
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}" if err.code >= 500 else None
    except urllib.error.URLError as err:
        return str(getattr(err.reason, "strerror", None) or err.reason)
    except OSError as err:
        return err.strerror or type(err).__name__


def retries_for(window: float) -> int:
    """MLflow's retry count whose waits (0, 2, 4, 8, ... s with a backoff factor of 1) first cover `window`."""
    retries = 1
    while 2**retries - 2 < window and retries < RETRY_LIMIT:
        retries += 1
    return retries


def bound_retries(uri: str, window: float, say: Callable[[str], None]) -> None:
    """Let MLflow retry a request for about `window` seconds, and say when the server stops and starts answering.

    MLflow's own MLFLOW_HTTP_REQUEST_* variables, where set, win.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(retries_for(window)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    logger = logging.getLogger(URLLIB3_LOGGER)
    logger.handlers = [handler for handler in logger.handlers if not isinstance(handler, OutageReporter)]
    logger.addHandler(OutageReporter(uri, window, say))
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


class OutageReporter(logging.Handler):
    """Turns urllib3's per-attempt retry records into one line when an outage starts and one when it ends."""

    def __init__(self, uri: str, window: float, say: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self.uri, self.window, self.say = uri, window, say
        self.since: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        retrying = message.startswith("Retrying") or message.startswith("Retry:")
        if retrying and self.since is None:
            self.since = time.monotonic()
            self.say(
                f"warning: tracking server {self.uri} is not answering; retrying for up to {self.window:g} s "
                f"({RETRY_VARIABLE} sets how long)"
            )
        elif self.since is not None and _answered(record):
            self.say(f"tracking server {self.uri} answers again after {time.monotonic() - self.since:.0f} s")
            self.since = None


def _answered(record: logging.LogRecord) -> bool:
    """A request line (`scheme://host:port "METHOD url version" status length`) with a status below 500."""
    args = record.args if isinstance(record.args, tuple) else ()
    return len(args) == 8 and str(args[6]).isdigit() and int(args[6]) < 500
