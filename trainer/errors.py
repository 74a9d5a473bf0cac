"""The one exception type that means "the user can fix this": exit code 2 and a one-line message."""

from __future__ import annotations


class BadInput(Exception):
    """Bad config, data or arguments; the message names the file, key, row or flag."""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt so the active run is marked KILLED."""


def utf8_text(raw: bytes, source: object) -> str:
    """`raw` decoded as UTF-8, or BadInput naming `source` and the line of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BadInput(f"{source}: not UTF-8 text (byte {raw[err.start]:#04x} on line {line})") from err
