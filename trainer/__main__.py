"""`python -m trainer`: the training container's entrypoint, the same path as `invoke train`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import NoReturn

from trainer.cli import run
from trainer.errors import EXIT_BAD_INPUT, say_error

LOCK_TIMEOUT_VARIABLE = "TRAINER_LOCK_TIMEOUT"


class Parser(argparse.ArgumentParser):
    """Refuses a bad flag like every other bad input: one `error:` line and exit 2."""

    def error(self, message: str) -> NoReturn:
        say_error(message)
        raise SystemExit(EXIT_BAD_INPUT)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def main() -> int:
    parser = Parser(prog="python -m trainer", description=__doc__)
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
        type=seconds,
        help=f"seconds to wait for another training on the same store (default: ${LOCK_TIMEOUT_VARIABLE} or 3600)",
    )
    args = parser.parse_args()
    if args.lock_timeout is None:
        try:
            args.lock_timeout = seconds(os.environ.get(LOCK_TIMEOUT_VARIABLE, "3600"))
        except argparse.ArgumentTypeError as err:
            parser.error(f"{LOCK_TIMEOUT_VARIABLE}: {err}")
    return run(args.config, args.explain, args.configs_dir, args.lock_timeout)


if __name__ == "__main__":
    raise SystemExit(main())
