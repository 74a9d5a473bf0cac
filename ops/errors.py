"""The failure that ops' tasks report as exit 1 (or a remote script's own code) with one line."""

from __future__ import annotations


class OpsError(Exception):
    """A step could not be done or did not succeed; the message names what and where, in one line."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
