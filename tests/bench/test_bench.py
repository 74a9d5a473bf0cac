"""`invoke bench --quick` end to end, and the parts of the bench that compute rather than time."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ops import bench, bench_data
from ops.bench_report import BEGIN, END

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bench-out")
    shutil.copy(ROOT / "README.md", out / "README.md")
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "bench", "--quick", f"--out={out}"],
        cwd=ROOT,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "bench" / "results.json").read_text(), parse_constant=_refuse)
    return out, results


def _refuse(name: str) -> None:
    raise AssertionError(f"results.json holds {name}: not strict JSON")


@pytest.mark.timeout(1500)
def test_quick_bench_measures_every_section_with_sane_numbers(quick) -> None:
    _, results = quick
    scale = results["scale"]
    assert [size["size"] for size in scale["sizes"]] == list(bench.QUICK.sizes) and not scale["left_out"]
    steps = {"hash", "load", "featurise", "fit_rf", "log_rf", "fit_xgb", "log_xgb"}
    assert set(scale["slopes"]) == set(scale["rss_slopes"]) == steps
    assert all(math.isfinite(value) and -1 < value < 4 for value in scale["slopes"].values()), scale["slopes"]
    assert all(math.isfinite(value) for value in scale["rss_slopes"].values())
    assert 0.8 < scale["feature_matrix_slope"] < 1.2, "the matrix grows with the rows"
    for size in scale["sizes"]:
        assert size["rows"] <= size["size"] and size["rows"] > 0.9 * size["size"]
        assert all(step["seconds"] > 0 and step["peak_rss_mb"] > 10 for step in size["steps"].values())
        assert size["cache"]["bit_identical"] is True
        assert size["cache"]["hit_seconds"] < size["steps"]["featurise"]["seconds"]
        assert all(0 < rmse < 3 for rmse in size["test_rmse"].values()), "logP is learnable from these features"

    cache = results["cache"]
    assert cache["hit_seconds"] < cache["miss_seconds"] and cache["hit_over_miss"] < 1 and cache["bit_identical"]

    assert [row["descriptors"] for row in results["featurisation"]] == ["none", "properties", "all"]
    for row in results["featurisation"]:
        assert row["molecules"] == bench.QUICK.featurise_rows and 0 < row["ratio"] < 100
        assert row["project_per_second"] > row["bare_per_second"] * row["ratio"] * 0.99
    assert results["hash"]["file_mb"] >= bench.QUICK.hash_mb * 0.9 and results["hash"]["ratio"] > 0

    for store in ("sqlite", "server"):
        skip = results["skip"][store]
        assert skip["skip_seconds"] > 0 and skip["import_mlflow_seconds"] > 0
        assert skip["ratio"] == pytest.approx(skip["skip_seconds"] / skip["import_mlflow_seconds"])

    committed = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "configs").rglob("*.yaml"))
    assert sorted(row["config"] for row in results["training"]) == committed
    for row in results["training"]:
        assert math.isfinite(row["test_rmse"]) and row["seconds"] > 0 and row["peak_rss_mb"] > 50
        if row["family"] == "transformer":
            assert row["epochs_per_second"] > 0
        else:
            assert row["epochs_per_second"] is None


def test_quick_bench_writes_figures_tables_and_the_readme_section(quick) -> None:
    out, results = quick
    endpoints = sorted({row["endpoint"] for row in results["training"]})
    assert endpoints == ["freesolv", "solubility"]
    parity = [f"parity-{endpoint}.png" for endpoint in endpoints]
    for name in ("bench-scale.png", "bench-quality.png", "bench-featurisation.png", *parity):
        figure = (out / "docs" / name).read_bytes()
        assert figure.startswith(PNG) and len(figure) > 10_000, name
    tables = (out / "bench" / "tables.md").read_text()
    readme = (out / "README.md").read_text()
    section = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert section.strip() == tables.strip()
    assert readme.split(BEGIN)[0] == (ROOT / "README.md").read_text().split(BEGIN)[0], "the rest is left as it was"
    assert "![bench-scale](docs/bench-scale.png)" in tables
    assert "![parity-solubility](docs/parity-solubility.png)" in tables
    assert "| featurise | " in tables and "| `mlflow server` on 127.0.0.1 |" in tables
    assert f"{results['training'][0]['test_rmse']:.3f}" in tables


def test_slope_is_the_log_log_exponent() -> None:
    sizes = [1_000, 3_000, 10_000, 30_000]
    assert bench.slope(sizes, [2 * size for size in sizes]) == pytest.approx(1.0)
    assert bench.slope(sizes, [size**2 / 7 for size in sizes]) == pytest.approx(2.0)
    assert bench.slope(sizes, [5.0] * 4) == pytest.approx(0.0)
    assert math.isnan(bench.slope([1_000], [1.0]))


def test_grown_molecules_are_unique_nested_and_carry_crippen_logp(tmp_path: Path) -> None:
    from rdkit import Chem
    from rdkit.Chem import Crippen

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "a.csv").write_text("smiles,y\nCCO,1\nc1ccccc1,2\nOCC,3\nnot-a-smiles,4\n")
    (project / "data" / "b.csv").write_text("id,smiles\n1,CC(=O)N\n")
    paths = bench_data.grown_snapshots(project, [3, 50, 200], tmp_path / "grown")
    rows = {size: path.read_text().splitlines() for size, path in paths.items()}
    assert all(lines[0] == "smiles,logP" and len(lines) == size + 1 for size, lines in rows.items())
    assert rows[200][:51] == rows[50] and rows[50][:4] == rows[3], "each size is the first rows of the next"
    smiles = [line.split(",")[0] for line in rows[200][1:]]
    assert len(set(smiles)) == 200
    for line in rows[200][1:]:
        text, value = line.split(",")
        molecule = Chem.MolFromSmiles(text)
        assert Chem.MolToSmiles(molecule) == text
        assert float(value) == pytest.approx(Crippen.MolLogP(molecule), abs=1e-4)
    parents = {"CCO", "c1ccccc1", "CC(N)=O"}
    assert parents <= set(smiles), "every parseable parent is kept, duplicates and bad SMILES are not"
    with pytest.raises(ValueError, match="only"):
        bench_data.grow(["ClC(Cl)(Cl)Cl"], 2)  # no hydrogen to replace
    assert len(bench_data.grow(["CCO", "CCC", "CCN"], 2)) == 2


def test_an_epoch_cap_shortens_only_the_families_that_have_epochs(tmp_path: Path) -> None:
    plan = bench.Plan(**{**bench.asdict(bench.FULL), "epoch_cap": 3})
    copies = bench._configs(ROOT, tmp_path, plan)
    committed = sorted((ROOT / "configs").rglob("*.yaml"))
    assert [bench._shown(copy, ROOT) for copy in copies] == [str(path.relative_to(ROOT)) for path in committed]
    for copy, original in zip(copies, committed, strict=True):
        before, after = yaml.safe_load(original.read_text()), yaml.safe_load(copy.read_text())
        if "epochs" in before["model"]:
            assert after["model"] == {**before["model"], "epochs": 3}
        else:
            assert after == before
    assert bench._configs(ROOT, tmp_path, bench.FULL) == committed
