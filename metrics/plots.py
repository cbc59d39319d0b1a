"""Figures the report code draws from a job's data; the metrics themselves return numbers only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.data import EHRDataset


def dimwise_scatter(
    real_train: EHRDataset | np.ndarray, synthetic_X: np.ndarray, path: str | Path, title: str = ""
) -> Path:
    """The dimension-wise probability plot (Choi et al. 2017): per code, its prevalence in the
    real training records (x) against the synthetic records (y), with the line y = x.

    Points on the line are codes the generator reproduces; points on the x-axis are codes it
    never generates. The legend carries Pearson r and the mean absolute difference, the numbers
    ``dimwise_probability`` reports. Written with the Agg backend (no display needed); returns
    the path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    real = real_train.X if isinstance(real_train, EHRDataset) else np.asarray(real_train)
    p_real = (np.asarray(real) > 0).mean(axis=0)
    p_syn = (np.asarray(synthetic_X) > 0).mean(axis=0)
    if p_real.shape != p_syn.shape:
        raise ValueError(f"real data has {p_real.size} columns, synthetic {p_syn.size}")
    r = float(np.corrcoef(p_real, p_syn)[0, 1]) if np.ptp(p_real) > 0 and np.ptp(p_syn) > 0 else float("nan")
    apd = float(np.abs(p_real - p_syn).mean())
    top = max(float(p_real.max()), float(p_syn.max()), 1e-3) * 1.05
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=120)
    try:
        ax.plot([0, top], [0, top], color="0.6", lw=1, ls="--", label="y = x")
        ax.scatter(p_real, p_syn, s=9, alpha=0.7, color="tab:blue", edgecolors="none",
                   label=f"codes (r = {r:.3f}, APD = {apd:.4f})")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_aspect("equal")
        ax.set_xlabel("prevalence in real training records")
        ax.set_ylabel("prevalence in synthetic records")
        ax.set_title(title or "Dimension-wise probability", fontsize=10)
        ax.legend(loc="upper left", fontsize=7, frameon=False)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out
