"""requirements.txt alone installs PyTorch's CPU build wherever pip resolves it, not PyPI's CUDA default."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def requirement_lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def pins(name: str) -> list[Requirement]:
    """The requirements of a requirements file, its option lines (an index URL) left out."""
    return [Requirement(line) for line in requirement_lines(name) if not line.startswith("-")]


def torch_pins(environment: dict[str, str]) -> list[Requirement]:
    return [req for req in pins("requirements.txt") if req.name == "torch" and req.marker.evaluate(environment)]


def test_requirements_name_the_cpu_index() -> None:
    assert CPU_INDEX in requirement_lines("requirements.txt")


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_linux_and_windows_get_the_cpu_build_at_one_version(platform: str) -> None:
    (pin,) = torch_pins({"sys_platform": platform})
    assert str(pin.specifier) == "==2.13.0+cpu"


def test_macos_wheels_are_cpu_only_and_carry_no_local_version() -> None:
    (pin,) = torch_pins({"sys_platform": "darwin"})
    assert str(pin.specifier) == "==2.13.0"


def test_every_requirement_is_pinned_exactly() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        for requirement in pins(name):
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{name}: {requirement}"
