"""The one error path of every command: an error carries its exit code, and `guard` turns it into one line.

Exit codes, for `invoke` tasks and `python -m trainer` alike: 0 done, 2 bad input the user can fix (config,
data, arguments, settings), 1 anything else. The message names the cause in one line, starting `error:`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class ProjectError(Exception):
    """A failure reported as one line; `exit_code` says which kind it is."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(ProjectError):
    """Bad config, data, settings or arguments; the message names the file, key, row or flag."""

    exit_code = EXIT_BAD_INPUT


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt so the active run is marked KILLED."""


_terminations = 0


def raise_terminated(signum: int, frame: object) -> None:
    """The SIGTERM handler. It also counts the signal: a native library that calls back into Python (XGBoost's
    data iterator, while it builds its matrix) swallows the exception and then fails with an error of its own,
    and that run was still killed, not failed."""
    global _terminations
    _terminations += 1
    raise Terminated


def terminations() -> int:
    """How many SIGTERMs this process has received; a run compares the count at its start and at its end."""
    return _terminations


class RunKilled(BaseException):
    """An interrupt (SIGTERM or Ctrl-C) ended an active run, which is now marked KILLED."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


def say(message: object) -> None:
    """A line on stderr, where progress and warnings go; stdout keeps the one-line outcomes."""
    print(message, file=sys.stderr, flush=True)


def say_error(message: object) -> None:
    """The one-line report of a failure, on stderr."""
    say(f"error: {message}")


def fail(code: int, message: object) -> int:
    """Report `message` and hand back `code`, for a caller that goes on or returns it."""
    say_error(message)
    return code


def one_line(err: BaseException) -> str:
    """An unexpected error as one line: its type and the first line of its message."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def guard(action: Callable[[], int], failures: tuple[type[Exception], ...] = ()) -> int:
    """Run `action` and return its exit code; a ProjectError, or one of `failures` (exit 1), becomes one line."""
    try:
        return action()
    except ProjectError as err:
        return fail(err.exit_code, err)
    except failures as err:
        return fail(EXIT_FAILED, err)


def utf8_text(raw: bytes, source: object) -> str:
    """`raw` decoded as UTF-8, or BadInput naming `source` and the line of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BadInput(f"{source}: not UTF-8 text (byte {raw[err.start]:#04x} on line {line})") from err
