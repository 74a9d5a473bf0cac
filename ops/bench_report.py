"""The bench's results as files: results.json, Markdown tables, and the README's section between the markers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- bench:begin (written by invoke bench) -->", "<!-- bench:end -->"


def save(results: dict[str, Any], out: Path) -> None:
    """results.json as measured so far."""
    folder = out / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(_finite(results), indent=2, allow_nan=False) + "\n")


def write(results: dict[str, Any], out: Path, figures: list[Path]) -> str:
    """Write `out`/bench/results.json and tables.md, and the section of `out`/README.md when it has the markers."""
    save(results, out)
    tables = render(results, figures)
    folder = out / "bench"
    (folder / "tables.md").write_text(tables + "\n")
    readme = out / "README.md"
    if readme.is_file():
        text = readme.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            readme.write_text(f"{head}{BEGIN}\n{tables}\n{END}{rest.split(END, 1)[1]}")
    return tables


def _finite(value: Any) -> Any:
    """NaN (a slope from one size) as JSON null, so results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_finite(inner) for inner in value]
    return value


def render(results: dict[str, Any], figures: list[Path]) -> str:
    machine = results["machine"]
    sections = [
        f"Measured on {machine['cores']} cores, Python {machine['python']}"
        f"{' (quick run: small sizes, shortened configs)' if machine['quick'] else ''}; "
        f"medians of {machine['repeats']} interleaved runs where a command is timed"
        + (
            f"; the committed configs trained for at most {machine['epoch_cap']} epochs."
            if machine["epoch_cap"]
            else "."
        ),
        _training(results["training"]),
        _skip(results["skip"]),
        _scale(results["scale"]),
        _limits(results["featurisation"], results["hash"]),
        _cache(results["cache"]),
        "\n".join(f"![{figure.stem}]({figure.as_posix()})" for figure in figures),
    ]
    return "\n\n".join(sections)


def _training(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| config | replicates | test RMSE (ensemble) | mean ± sd over replicates | 90% coverage"
        " | Spearman(abs error, std) | RMSE in / out of domain (share in) | wall time | peak RSS | epochs/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        epochs = f"{row['epochs_per_second']:.2f}" if row["epochs_per_second"] else "-"
        outside = row["test_rmse_out_domain"]
        lines.append(
            f"| {row['config']} | {row['replicates']} | {row['test_rmse']:.3f} {row['unit']}"
            f" | {row['test_rmse_mean']:.3f} ± {row['test_rmse_sd']:.3f} | {row['test_interval_coverage']:.2f}"
            f" | {row['test_spearman_error_std']:.2f}"
            f" | {row['test_rmse_in_domain']:.3f} / {'-' if outside is None else f'{outside:.3f}'}"
            f" ({row['test_in_domain_fraction']:.0%}) | {row['seconds']:.1f} s | {row['peak_rss_mb']:,.0f} MiB"
            f" | {epochs} |"
        )
    total = sum(row["seconds"] for row in rows)
    lines.append(f"| all {len(rows)} configs | | | | | | | {total:.0f} s | | |")
    return "\n".join(lines)


def _skip(skip: dict[str, Any]) -> str:
    lines = [
        '| store | `invoke train`, every config skipped | `python -c "import mlflow"` | ratio |',
        "|---|---|---|---|",
    ]
    names = {"sqlite": "SQLite (embedded)", "server": "`mlflow server` on 127.0.0.1"}
    for name, row in skip.items():
        skipped, baseline = row["skip_seconds"], row["import_mlflow_seconds"]
        lines.append(f"| {names[name]} | {skipped:.2f} s | {baseline:.2f} s | {row['ratio']:.2f}x |")
    return "\n".join(lines)


def _scale(scale: dict[str, Any]) -> str:
    sizes = scale["sizes"]
    header = " | ".join(f"{size['rows']:,}" for size in sizes)
    lines = [
        f"| step (wall time) | {header} | slope | peak RSS at {sizes[-1]['rows']:,} | RSS slope |",
        "|---|" + "---|" * (len(sizes) + 3),
    ]
    for name, slope in scale["slopes"].items():
        cells = " | ".join(_seconds(size["steps"][name]["seconds"]) for size in sizes)
        peak = sizes[-1]["steps"][name]["peak_rss_mb"]
        lines.append(f"| {name} | {cells} | {_slope(slope)} | {peak:,.0f} MiB | {_slope(scale['rss_slopes'][name])} |")
    matrix = " | ".join(f"{size['feature_matrix_mb']:,.0f} MiB" for size in sizes)
    lines.append(f"| feature matrix | {matrix} | {_slope(scale['feature_matrix_slope'])} | | |")
    rmse = {
        family: " | ".join(f"{size['test_rmse'][family]:.3f}" for size in sizes) for family in sizes[0]["test_rmse"]
    }
    lines += [f"| test RMSE {family} (logP) | {cells} | | | |" for family, cells in rmse.items()]
    for item in scale["left_out"]:
        lines.append(
            f"\n{item['rows']:,} molecules left out: predicted {item['predicted_seconds']:.0f} s would pass the "
            f"{item['budget_seconds']:.0f} s budget of the scale section."
        )
    return "\n".join(lines)


def _limits(featurisation: list[dict[str, Any]], snapshot_hash: dict[str, Any]) -> str:
    rows = featurisation[0]["molecules"]
    lines = [
        f"| featurisation ({rows:,} molecules) | project molecules/s | bare RDKit loop | ratio (goal >= 0.8) |",
        "|---|---|---|---|",
    ]
    for row in featurisation:
        lines.append(
            f"| Morgan counts 2048 + descriptors `{row['descriptors']}` | {row['project_per_second']:,.0f} "
            f"| {row['bare_per_second']:,.0f} | {row['ratio']:.2f} |"
        )
    lines.append(
        f"| snapshot hash ({snapshot_hash['file_mb']:,.0f} MB), MB/s | {snapshot_hash['project_mb_per_second']:,.0f} "
        f"| `sha256sum` {snapshot_hash['sha256sum_mb_per_second']:,.0f} | {snapshot_hash['ratio']:.2f} (goal >= 0.9) |"
    )
    return "\n".join(lines)


def _cache(cache: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"| feature cache ({cache['rows']:,} molecules, {cache['matrix_mb']:,.0f} MiB) | wall time |",
            "|---|---|",
            f"| miss (featurise and write) | {_seconds(cache['miss_seconds'])} |",
            f"| hit (read and check) | {_seconds(cache['hit_seconds'])} |",
            f"| hit / miss | {cache['hit_over_miss']:.3f}x |",
            f"| hit / featurisation (goal < 0.05) | {cache['hit_over_featurise']:.3f}x |",
        ]
    )


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"


def _slope(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"
