"""The parity plot of a test set: predicted against measured, each molecule with its 90% interval, coloured by
whether it lies in the applicability domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from trainer.ensemble import Prediction

COLOURS = {True: "tab:blue", False: "tab:orange"}


def parity_figure(y_true: np.ndarray, predicted: Prediction, title: str, unit: str):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    y_pred = predicted.mean
    figure, axes = plt.subplots(figsize=(5.5, 5.5), dpi=120)
    # An interval is infinite when the calibration set is too small for 90% (under 9 molecules).
    shown = np.concatenate([y_true, y_pred, predicted.lower, predicted.upper])
    shown = shown[np.isfinite(shown)]
    low, high = float(shown.min()), float(shown.max())
    pad = 0.05 * (high - low or 1.0)
    axes.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", linewidth=1)
    inside = predicted.in_domain.astype(bool)
    for flag, label in ((True, "in domain"), (False, "out of domain")):
        rows = inside == flag
        if not rows.any():
            continue
        band = np.vstack([y_pred[rows] - predicted.lower[rows], predicted.upper[rows] - y_pred[rows]])
        axes.errorbar(
            y_true[rows], y_pred[rows], yerr=band, fmt="o", markersize=3, alpha=0.6, elinewidth=0.6,
            color=COLOURS[flag], label=f"{label} ({int(rows.sum())})",
        )  # fmt: skip
    covered = (y_true >= predicted.lower) & (y_true <= predicted.upper)
    rmse = float(np.sqrt(np.mean((y_pred - y_true) ** 2)))
    axes.set(xlim=(low - pad, high + pad), ylim=(low - pad, high + pad), title=title)
    axes.set_xlabel(f"measured {unit}")
    axes.set_ylabel(f"predicted {unit} (bars: 90% interval)")
    axes.text(0.04, 0.94, f"RMSE {rmse:.3f}  n={len(y_true)}  coverage {covered.mean():.2f}", transform=axes.transAxes)
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def close_figure(figure) -> None:
    """Free a logged figure: pyplot keeps every figure it made until it is closed."""
    from matplotlib import pyplot as plt

    plt.close(figure)
