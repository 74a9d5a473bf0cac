"""The bench's pictures, drawn from results.json's figures with matplotlib (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCALE_FIGURE = "bench-scale.png"
QUALITY_FIGURE = "bench-quality.png"
FEATURISATION_FIGURE = "bench-featurisation.png"


def draw_all(results: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    return [
        _scale(results["scale"], folder / SCALE_FIGURE),
        _quality(results["training"], folder / QUALITY_FIGURE),
        _featurisation(results["featurisation"], results["hash"], folder / FEATURISATION_FIGURE),
    ]


def _scale(scale: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(12, 5))
    rows = [size["rows"] for size in scale["sizes"]]
    for name, slope in scale["slopes"].items():
        seconds = [size["steps"][name]["seconds"] for size in scale["sizes"]]
        time_axis.plot(rows, seconds, marker="o", label=f"{name} (slope {slope:.2f})")
    for name, slope in scale["rss_slopes"].items():
        peaks = [size["steps"][name]["peak_rss_mb"] for size in scale["sizes"]]
        memory_axis.plot(rows, peaks, marker="o", label=f"{name} (slope {slope:.2f})")
    matrix = [size["feature_matrix_mb"] for size in scale["sizes"]]
    memory_axis.plot(rows, matrix, "k--", label=f"feature matrix (slope {scale['feature_matrix_slope']:.2f})")
    for axis, label in ((time_axis, "wall time (s)"), (memory_axis, "peak RSS (MiB)")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("molecules")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    time_axis.set_title("time per step (log-log)")
    memory_axis.set_title("peak RSS per step (log-log)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _quality(training: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 5))
    endpoints = sorted({item["endpoint"] for item in training})
    markers = "osD^v<>"
    for number, endpoint in enumerate(endpoints):
        items = [item for item in training if item["endpoint"] == endpoint]
        axis.scatter(
            [item["seconds"] for item in items],
            [item["test_rmse"] for item in items],
            marker=markers[number % len(markers)],
            s=60,
            label=endpoint,
        )
        for item in items:
            axis.annotate(
                item["family"], (item["seconds"], item["test_rmse"]), textcoords="offset points", xytext=(5, 5)
            )
    axis.set_xscale("log")
    axis.set_xlabel("training wall time (s, log)")
    axis.set_ylabel("test RMSE")
    axis.set_title("quality against training time, per family and endpoint")
    axis.grid(True, alpha=0.3)
    axis.legend(title="endpoint")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _featurisation(rows: list[dict[str, Any]], snapshot_hash: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    positions = range(len(rows))
    width = 0.38
    axis.bar([p - width / 2 for p in positions], [row["project_per_second"] for row in rows], width, label="project")
    axis.bar(
        [p + width / 2 for p in positions], [row["bare_per_second"] for row in rows], width, label="bare RDKit loop"
    )
    for position, row in zip(positions, rows, strict=True):
        top = max(row["project_per_second"], row["bare_per_second"])
        axis.annotate(f"{row['ratio']:.2f}x", (position, top), ha="center", textcoords="offset points", xytext=(0, 4))
    axis.set_xticks(list(positions), [f"Morgan + {row['descriptors']}" for row in rows])
    axis.set_yscale("log")
    axis.set_ylabel("molecules/s (log)")
    axis.set_title(
        f"featurisation, project / bare (goal >= 0.8); snapshot hash {snapshot_hash['ratio']:.2f}x sha256sum"
    )
    axis.legend()
    axis.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
