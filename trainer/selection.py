"""The champion contest: which of two versions of one endpoint and family should serve.

Only like is compared with like. Test RMSEs are comparable only on the same test set (`test_set_hash`: the test
part's molecules and values), and a difference counts only when it is larger than the noise between them: the
combined standard error of the two means over replicates, or a margin set in the config. A version on another
test set takes the alias only when the data snapshot itself changed (the old figures then describe data that
no longer is); another split of the same snapshot cannot, since an easier test set would win. A version whose
run is not complete (FINISHED with the completion tag) neither takes nor keeps the alias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Standing:
    """A version's claim: where it was tested and how well, over how many replicates."""

    version: str
    complete: bool
    status: str
    test_set_hash: str | None
    data_hash: str | None
    rmse_mean: float | None
    rmse_sd: float
    replicates: int

    @property
    def standard_error(self) -> float:
        return self.rmse_sd / math.sqrt(self.replicates)


def decide(challenger: Standing, holder: Standing | None, margin: float | None) -> tuple[bool, str]:
    """(does the challenger take the alias, the rule that decided it, in words)."""
    if not challenger.complete:
        return False, f"version {challenger.version}'s run is not complete ({challenger.status})"
    if holder is None:
        return True, "first version"
    if not holder.complete:
        return True, f"champion version {holder.version}'s run is not complete ({holder.status}), so it cannot keep it"
    if holder.test_set_hash != challenger.test_set_hash:
        if holder.data_hash != challenger.data_hash:
            return True, f"new data snapshot (champion version {holder.version} was tested on another)"
        return False, (
            f"test set differs from champion version {holder.version}'s on the same data snapshot"
            " (another split): RMSEs not comparable"
        )
    if holder.rmse_mean is None or challenger.rmse_mean is None:
        return holder.rmse_mean is None, f"champion version {holder.version} has no test RMSE"
    gain = holder.rmse_mean - challenger.rmse_mean
    if margin is None:
        rule, needed = "combined standard error", math.hypot(challenger.standard_error, holder.standard_error)
    else:
        rule, needed = "margin", margin
    compared = f"mean test RMSE {challenger.rmse_mean:.4f} vs {holder.rmse_mean:.4f} of version {holder.version}"
    if gain > needed:
        return True, f"{compared}: better by {gain:.4f} > {rule} {needed:.4f}"
    return False, f"{compared}: not better by more than {rule} {needed:.4f}"
