"""Fidelity: how close the synthetic records' distribution is to the real one."""

from __future__ import annotations

import numpy as np

from bench.dataset import EHRDataset
from bench.errors import MetricNotApplicable
from metrics.base import Metric, Score, SyntheticData


def prevalence(X: np.ndarray) -> np.ndarray:
    """Per-column fraction of records holding the code (count data: a count above zero)."""
    return (np.asarray(X) > 0).mean(axis=0)


class DimensionWiseProbability(Metric):
    """Per-code prevalence on real training records against synthetic records (Choi et al. 2017).

    Summarised by Pearson r over codes, the average absolute difference of prevalences (APD,
    Yan et al. 2022), and the number of codes present in the real data that the generator never
    produced: a direct view of mode collapse.
    """

    name = "dimwise_probability"
    category = "fidelity"
    description = "per-code prevalence, real training vs synthetic"
    scores = (
        Score("dwp_pearson_r", "maximize", -1.0, 1.0, 1.0, "Pearson r of per-code prevalences"),
        Score("dwp_apd", "minimize", 0.0, 1.0, 0.0, "mean absolute prevalence difference"),
        Score("dwp_rmse", "minimize", 0.0, 1.0, 0.0, "root mean squared prevalence difference"),
        Score(
            "dwp_never_generated", "minimize", 0.0, np.inf, 0.0,
            "codes present in real training data that no synthetic record holds",
        ),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        p_real = prevalence(real_train.X)
        p_syn = prevalence(synthetic.X)
        if np.ptp(p_real) == 0:
            raise MetricNotApplicable("every real column has the same prevalence: r is undefined")
        # a constant synthetic profile carries no information about the real one
        r = 0.0 if np.ptp(p_syn) == 0 else float(np.corrcoef(p_real, p_syn)[0, 1])
        diff = p_real - p_syn
        return {
            "dwp_pearson_r": r,
            "dwp_apd": float(np.abs(diff).mean()),
            "dwp_rmse": float(np.sqrt((diff**2).mean())),
            "dwp_never_generated": float(((p_real > 0) & (p_syn == 0)).sum()),
        }
