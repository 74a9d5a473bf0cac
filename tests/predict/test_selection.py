"""The contest rules on their own: like with like, and a win only beyond the noise between the two."""

from __future__ import annotations

import math

from trainer.selection import Standing, decide


def standing(version: str = "1", mean: float = 0.60, sd: float = 0.02, n: int = 5, **changes: object) -> Standing:
    values = {
        "version": version,
        "complete": True,
        "status": "FINISHED",
        "test_set_hash": "test-a",
        "data_hash": "data-a",
        "rmse_mean": mean,
        "rmse_sd": sd,
        "replicates": n,
    }
    return Standing(**{**values, **changes})


def test_a_win_needs_more_than_the_combined_standard_error() -> None:
    holder = standing("1", mean=0.60, sd=0.02, n=5)
    needed = math.hypot(0.02 / math.sqrt(5), 0.03 / math.sqrt(5))  # 0.0161
    inside = standing("2", mean=0.60 - needed + 0.001, sd=0.03)
    beyond = standing("3", mean=0.60 - needed - 0.001, sd=0.03)

    assert decide(inside, holder, margin=None) == (
        False,
        f"mean test RMSE {inside.rmse_mean:.4f} vs 0.6000 of version 1: not better by more than combined"
        f" standard error {needed:.4f}",
    )
    wins, reason = decide(beyond, holder, margin=None)
    assert wins and reason.endswith(f"> combined standard error {needed:.4f}")


def test_a_config_margin_replaces_the_standard_error() -> None:
    holder = standing("1", mean=0.60)
    assert decide(standing("2", mean=0.56), holder, margin=0.05)[0] is False
    wins, reason = decide(standing("2", mean=0.54), holder, margin=0.05)
    assert wins and reason.endswith("better by 0.0600 > margin 0.0500")


def test_one_replicate_each_falls_back_to_strictly_lower_and_a_tie_never_wins() -> None:
    holder = standing("1", mean=0.60, sd=0.0, n=1)
    assert decide(standing("2", mean=0.60, sd=0.0, n=1), holder, None)[0] is False
    assert decide(standing("2", mean=0.5999, sd=0.0, n=1), holder, None)[0] is True


def test_another_split_of_the_same_snapshot_never_takes_the_alias() -> None:
    easier = standing("2", mean=0.10, test_set_hash="test-b")
    assert decide(easier, standing("1"), None) == (
        False,
        "test set differs from champion version 1's on the same data snapshot (another split): RMSEs not comparable",
    )


def test_a_new_snapshot_takes_the_alias_whatever_its_figures() -> None:
    worse = standing("2", mean=1.50, test_set_hash="test-b", data_hash="data-b")
    assert decide(worse, standing("1"), None) == (
        True,
        "new data snapshot (champion version 1 was tested on another)",
    )


def test_an_incomplete_run_neither_takes_nor_keeps_the_alias() -> None:
    killed = standing("1", complete=False, status="KILLED")
    assert decide(standing("2", mean=0.9), killed, None) == (
        True,
        "champion version 1's run is not complete (KILLED), so it cannot keep it",
    )
    assert decide(standing("2", complete=False, status="RUNNING"), None, None) == (
        False,
        "version 2's run is not complete (RUNNING)",
    )


def test_the_first_version_takes_the_alias() -> None:
    assert decide(standing("1"), None, None) == (True, "first version")
