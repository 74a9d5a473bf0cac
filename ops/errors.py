"""The failure that ops' steps report as exit 1 (or a remote script's own code) with one line."""

from __future__ import annotations

from trainer.errors import ProjectError


class OpsError(ProjectError):
    """A step could not be done or did not succeed; the message names what and where, in one line."""
