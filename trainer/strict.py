"""The pydantic base of every typed setting: configs, family params and feature specs.

A leaf module, so that trainer/config.py (which loads the families) and trainer/models/ (whose params are
part of a config) need not import each other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys and loose types (a string for a number, a bool for an int) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
