"""The CPU share: thread counts come from the cores allowed and the cgroup's quota, not the machine's cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trainer import cpus

CORES = len(os.sched_getaffinity(0))


def _v2(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def _v1(tmp_path: Path, quota: str, period: str) -> Path:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: _v2(p, "100000 100000\n"), 1),
        (lambda p: _v2(p, "50000 100000\n"), 1),  # half a CPU still gets one thread
        (lambda p: _v2(p, "150000 100000\n"), 1),  # 1.5 CPUs: one thread, not two that share 1.5
        (lambda p: _v2(p, "max 100000\n"), CORES),
        (lambda p: _v2(p, "6400000 100000\n"), CORES),  # a quota above the allowed cores does not raise it
        (lambda p: _v1(p, "100000", "100000"), 1),
        (lambda p: _v1(p, "-1", "100000"), CORES),
        (lambda p: p, CORES),  # no cgroup files at all
        (lambda p: _v2(p, "garbage\n"), CORES),
    ],
)
def test_allowed_cpus_follow_the_quota_and_the_affinity(tmp_path: Path, make, expected: int) -> None:
    assert cpus.allowed_cpus(make(tmp_path)) == expected


def test_the_families_and_the_featuriser_take_their_counts_from_the_share(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(cpus, "CGROUP", _v2(tmp_path, "100000 100000\n"))
    import torch

    from trainer.models import _transformer_net as net
    from trainer.models.rf import Params as RfParams
    from trainer.models.rf import train as train_rf

    before = torch.get_num_threads()
    try:
        net.use_threads(cpus.allowed_cpus())
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

    import numpy as np

    from trainer.data import Part, SplitData

    smiles = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O", "CCCl"] * 3
    part = Part(smiles, np.linspace(0, 1, len(smiles)), np.arange(len(smiles)))
    params = RfParams.model_validate({"features": {"morgan_size": 16, "descriptors": "none"}, "n_estimators": 4})
    model = train_rf(params, SplitData(part, part, part), 0, lambda *_: None)
    assert model.estimator.n_jobs == 1
