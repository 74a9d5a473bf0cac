"""`python -m trainer`: the training container's entrypoint, the same path as `invoke train`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from trainer.cli import run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="config file (repeatable); default: all in --configs-dir",
    )
    parser.add_argument("--configs-dir", type=Path, default=Path("configs"))
    parser.add_argument("--explain", action="store_true", help="print key parts and differences; train nothing")
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=float(os.environ.get("TRAINER_LOCK_TIMEOUT", "3600")),
        help="seconds to wait for another training on the same store",
    )
    args = parser.parse_args()
    return run(args.config, args.explain, args.configs_dir, args.lock_timeout)


if __name__ == "__main__":
    raise SystemExit(main())
