"""`invoke build` and `invoke push` with a stand-in docker on PATH, in a throw-away git repository."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops import commands
from tests.ops_fixtures import SHA, invoke_yaml, run_command

SETTINGS = invoke_yaml()


def build(settings: dict = SETTINGS, **flags: object) -> int:
    return run_command(commands.build, settings, **flags)


def push(**flags: object) -> int:
    return run_command(commands.push, SETTINGS, **flags)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repository with one commit, and that commit's SHA."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\n")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "Dockerfile"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "image"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return root, head


@pytest.fixture
def on_path(standins, monkeypatch):
    monkeypatch.setenv("PATH", standins.path)
    return standins


def test_build_tags_the_head_commit_with_oci_labels(repo, on_path):
    root, head = repo
    before = datetime.now(UTC).replace(microsecond=0)

    assert build(root=root) == 0

    (call,) = on_path.docker("build")
    argv = call["argv"]
    tag = f"ghcr.io/ai-drug/ai-drug-trainer:{head}"
    assert argv[argv.index("--tag") + 1] == tag
    assert argv[argv.index("--build-arg") + 1] == f"GIT_SHA={head}"
    labels = dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "--label")
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.source"] == "https://github.com/ai-drug/ai-drug"
    created = datetime.strptime(labels["org.opencontainers.image.created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert argv[-3:] == ["--file", str(root / "Dockerfile"), str(root)]


def test_a_short_sha_of_head_names_the_full_tag(repo, on_path):
    root, head = repo

    assert build(root=root, sha=head[:7].upper()) == 0
    assert push(root=root, sha=head[:7]) == 0

    assert on_path.docker("build")[0]["argv"][2].endswith(f":{head}")
    assert on_path.docker("push")[0]["argv"] == ["push", f"ghcr.io/ai-drug/ai-drug-trainer:{head}"]


def test_dry_run_prints_the_exact_commands_and_runs_nothing(repo, on_path, capsys):
    root, head = repo

    assert build(root=root, dry_run=True) == 0
    assert push(root=root, dry_run=True) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"docker build --tag ghcr.io/ai-drug/ai-drug-trainer:{head} --build-arg GIT_SHA={head}")
    assert lines[1] == f"docker push ghcr.io/ai-drug/ai-drug-trainer:{head}"
    assert on_path.calls() == []


@pytest.mark.parametrize("sha", ["abc", "g123456", "0123456789abcdef0123456789abcdef012345678", "abc1234;ls", "-rf"])
def test_a_sha_that_is_not_7_to_40_hex_is_refused(repo, on_path, capsys, sha):
    root, _ = repo

    assert build(root=root, sha=sha) == 2
    assert push(root=root, sha=sha) == 2

    errors = capsys.readouterr().err.splitlines()
    assert errors == [f"error: --sha: {sha!r} is not a git commit SHA (7 to 40 hex characters)"] * 2
    assert on_path.calls() == []


def test_build_refuses_a_sha_other_than_the_checked_out_one(repo, on_path, capsys):
    root, head = repo
    other = "f" * 40 if not head.startswith("f") else "e" * 40

    assert build(root=root, sha=other) == 2

    assert capsys.readouterr().err.strip() == (
        f"error: --sha: {other} is not the checked-out commit {head}; check it out and build there"
    )
    assert on_path.calls() == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("owner", "AI Drug"), ("name", "trainer;id"), ("registry", "ghcr.io/$(id)"), ("source", "file:///etc")],
)
def test_bad_image_settings_are_refused_by_key(repo, on_path, capsys, key, value):
    root, _ = repo

    assert build({**SETTINGS, "image": {**SETTINGS["image"], key: value}}, root=root) == 2

    assert capsys.readouterr().err.startswith(f"error: invoke.yaml: image.{key}: {value!r}")
    assert on_path.calls() == []


def test_a_failed_docker_command_is_exit_1_with_one_line(repo, on_path, capsys):
    root, _ = repo
    on_path.set("push_exit", 5)

    assert push(root=root) == 1

    assert capsys.readouterr().err.strip() == "error: docker push failed with exit code 5"


def test_the_invoke_task_reads_invoke_yaml_and_env_overrides(project_root):
    env = {**os.environ, "INVOKE_IMAGE_OWNER": "someone-else"}

    shown = subprocess.run(
        [sys.executable, "-m", "invoke", "push", "--sha", SHA[:7], "--dry-run"],
        cwd=project_root,
        env=env,
        capture_output=True,
        text=True,
    )

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"docker push ghcr.io/someone-else/ai-drug-trainer:{SHA}"


def test_build_refuses_a_dirty_tree_and_a_dry_run_says_so(repo, on_path, capsys):
    root, head = repo
    (root / "Dockerfile").write_text("FROM scratch\nLABEL changed=yes\n")
    (root / "new.py").write_text("")

    assert build(root=root) == 2
    assert on_path.docker("build") == []
    problem = (
        f"the working tree has changes that commit {head[:12]} lacks (Dockerfile, new.py); "
        "an image tagged with it would not be that commit"
    )
    assert capsys.readouterr().err.splitlines() == [f"error: {problem}: commit or stash them first"]

    assert build(root=root, dry_run=True) == 0
    shown = capsys.readouterr()
    assert shown.err.splitlines() == [f"warning: {problem}"]
    assert shown.out.startswith(f"docker build --tag ghcr.io/ai-drug/ai-drug-trainer:{head} ")
