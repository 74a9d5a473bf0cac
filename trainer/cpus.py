"""How many CPUs this process may use: the cores it may run on, capped by its cgroup's CPU quota.

torch, XGBoost, scikit-learn and a process pool size themselves from the machine's cores, not from a container's
CPU quota (AWS Batch's vCPUs, docker --cpus) or the cores it is pinned to. Oversubscribed, two transformer fits
sharing 2 cores with 2 threads each took 1,745 s where one alone takes ~100 s. Inside a container the cgroup
namespace puts the container's own cgroup at /sys/fs/cgroup.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def allowed_cpus(cgroup: Path | None = None) -> int:
    """os.sched_getaffinity's count, lowered to a whole CPU quota (at least 1)."""
    count = len(os.sched_getaffinity(0))
    quota = cpu_quota(cgroup or CGROUP)
    return count if quota is None else max(1, min(count, math.floor(quota)))


def cpu_quota(cgroup: Path) -> float | None:
    """CPUs per period from cgroup v2's cpu.max or v1's cfs files; None when there is no limit or no file."""
    try:
        if (v2 := cgroup / "cpu.max").is_file():
            quota, period = v2.read_text().split()[:2]
        else:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None
