"""The parity plot of a test set: predicted against measured, with the identity line."""

from __future__ import annotations

import numpy as np


def parity_figure(y_true: np.ndarray, y_pred: np.ndarray, title: str, unit: str):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 5), dpi=120)
    low = float(min(y_true.min(), y_pred.min()))
    high = float(max(y_true.max(), y_pred.max()))
    pad = 0.05 * (high - low or 1.0)
    axes.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", linewidth=1)
    axes.scatter(y_true, y_pred, s=12, alpha=0.7)
    axes.set(xlim=(low - pad, high + pad), ylim=(low - pad, high + pad), title=title)
    axes.set_xlabel(f"measured {unit}")
    axes.set_ylabel(f"predicted {unit}")
    rmse = float(np.sqrt(np.mean((y_pred - y_true) ** 2)))
    axes.text(0.04, 0.94, f"RMSE {rmse:.3f}  n={len(y_true)}", transform=axes.transAxes)
    figure.tight_layout()
    return figure
