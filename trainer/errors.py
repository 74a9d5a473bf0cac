"""The one exception type that means "the user can fix this": exit code 2 and a one-line message."""


class BadInput(Exception):
    """Bad config, data or arguments; the message names the file, key, row or flag."""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt so the active run is marked KILLED."""
