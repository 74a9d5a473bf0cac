"""README.md's own commands, snippets and transcripts, run or checked against the code: a stale README fails.

Each test reads README.md as written (its fenced blocks and `invoke ...` mentions), so an edit to the code that
the README does not follow, or an edit to the README that the code does not back, fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.trainer.conftest import ROOT, run_trainer

README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
INVOKE = re.compile(r"(?<![\w/-])invoke ([a-z][\w.-]*)((?: \[?--?[a-z][\w-]*[^|`\n]*?)*)(?=$|[`|#\n]|  )", re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README) if lang == language]


@cache
def tasks() -> dict[str, set[str]]:
    """Every invoke task and the flags its --help lists."""
    listed = subprocess.run(
        [sys.executable, "-m", "invoke", "--list", "--list-format", "json"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: dict[str, set[str]] = {}

    def walk(collection: dict, prefix: str) -> None:
        for entry in collection["tasks"]:
            found[prefix + entry["name"]] = set()
        if collection.get("default"):
            found[prefix.rstrip(".")] = set()
        for inner in collection["collections"]:
            walk(inner, f"{prefix}{inner['name']}.")

    walk(json.loads(listed.stdout), "")
    for name in found:
        shown = subprocess.run(
            [sys.executable, "-m", "invoke", "--help", name], cwd=ROOT, capture_output=True, text=True, check=True
        )
        found[name] = set(re.findall(r"--(?:\[no-\])?([a-z][\w-]*)", shown.stdout))
    return found


def test_the_readme_starts_with_the_two_commands_a_fresh_machine_runs() -> None:
    first = blocks("bash")[0].splitlines()
    assert first == [
        "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/invoke train",
        "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt && .venv/bin/invoke test",
    ]
    assert README.index(first[0]) < README.index("\n## ")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt && .venv/bin/invoke test" in ci


def test_every_invoke_command_the_readme_names_is_a_task_with_those_flags() -> None:
    mentioned = INVOKE.findall(README)
    assert len(mentioned) > 20
    known = tasks()
    for name, rest in mentioned:
        assert name in known, f"README names `invoke {name}`, which is no task"
        for flag in re.findall(r"--([a-z][\w-]*)", rest):
            assert flag.removeprefix("no-") in known[name], f"README: `invoke {name} --{flag}`: no such flag"


def test_the_python_example_runs_as_written_against_the_embedded_store(make_config, tmp_path: Path) -> None:
    project = tmp_path / "project"
    store = project / ".mlflow" / "mlflow.db"
    trained = run_trainer("--config", str(make_config("rf")), env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"})
    assert trained.returncode == 0, trained.stderr
    run_id = re.search(r"run ([0-9a-f]{32})", trained.stdout)[1]

    (example,) = [body for body in blocks("python") if "load_model" in body]
    assert "<run id>" in example
    script = example.replace("<run id>", run_id).rstrip().splitlines()
    script[-1] = f"print({script[-1].split('  #')[0]}.to_json())"
    env = {name: value for name, value in os.environ.items() if name != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [sys.executable, "-c", "\n".join(script)], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout.strip().splitlines()[-1])["prediction"]
    assert len(predictions) == 2 and all(isinstance(value, float) for value in predictions.values())
    assert sorted(path.name for path in project.iterdir()) == [".mlflow"], "the example left files behind"


def test_the_config_refusal_quoted_in_the_readme_is_what_the_trainer_prints(tmp_path: Path) -> None:
    quoted = re.search(
        r"\(`error: (configs/\S+\.yaml): (model\.max_depth): ([^`]+)`, exit 2\)", README.replace("\n", " ")
    )
    assert quoted, "README quotes no config refusal"
    path, key, message = quoted.groups()
    config = ROOT / path
    copy = tmp_path / path
    copy.parent.mkdir(parents=True)
    copy.write_text(re.sub(r"(?m)^(\s*max_depth:).*$", r"\1 0", config.read_text()))
    assert "max_depth: 0" in copy.read_text()
    result = run_trainer("--config", str(copy))
    assert (result.returncode, result.stderr.splitlines()) == (2, [f"error: {copy}: {key}: {message}"])


@pytest.mark.parametrize("block", [body for body in blocks("text") if "): key " in body])
def test_the_explain_transcript_shows_the_current_key_parts(block: str, tmp_path: Path, monkeypatch) -> None:
    from trainer.pipeline import prepare

    head = re.match(r"(\S+) \((\w+)\): key (\w+) = code (\w+) \+ config (\w+) \+ data (\w+)", block)
    change = re.search(r"config differs: model\.(\w+) (\S+) -> (\S+)", block)
    assert head and change, block
    path, _, key, code, config, data = head.groups()
    leaf, before, after = change.groups()
    text = (ROOT / path).read_text()
    assert re.search(rf"(?m)^\s*{leaf}: {re.escape(before)}\b", text), f"{path} has no {leaf}: {before}"
    changed = tmp_path / "changed.yaml"
    changed.write_text(re.sub(rf"(?m)^(\s*{leaf}:) {re.escape(before)}\b", rf"\1 {after}", text))
    monkeypatch.chdir(ROOT)
    parts = prepare(changed).parts
    shown = (parts.run_key[:12], parts.code_hash[:12], parts.config_hash[:12], parts.data_hash[:12])
    assert shown == (key, code, config, data), "README's --explain transcript is stale: print it with --explain"


def test_the_train_transcript_trains_every_committed_config_then_skips_each() -> None:
    (block,) = [body for body in blocks("text") if body.startswith("$ invoke train\n")]
    sessions: list[list[str]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            sessions.append([])
        else:
            sessions[-1].append(line)
    first, second = sessions[0], sessions[1]
    committed = sorted((ROOT / "configs").rglob("*.yaml"))
    expected = [
        (str(path.relative_to(ROOT)), yaml.safe_load(path.read_text())["model"]["family"]) for path in committed
    ]
    trained = [
        re.fullmatch(r"(\S+)  (\w+)  trained  run ([0-9a-f]{32})  test RMSE \d+\.\d{3}  \d+\.\d s", line)
        for line in first
    ]
    assert all(trained), first
    assert [(match[1], match[2]) for match in trained] == expected
    skipped = [
        re.fullmatch(r"(\S+)  (\w+)  skipped  run ([0-9a-f]{32})  \(a complete run already holds this key\)", line)
        for line in second
    ]
    assert all(skipped), second
    assert [match.groups() for match in skipped] == [match.groups() for match in trained]
