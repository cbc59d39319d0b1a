"""Speed: what the harness measured while the generator trained and sampled."""

from __future__ import annotations

import numpy as np

from bench.dataset import EHRDataset
from bench.errors import MetricNotApplicable
from metrics.base import Metric, Score, SyntheticData


class Speed(Metric):
    """Fit and sample wall time, throughput and peak resident memory of the job."""

    name = "speed"
    category = "speed"
    description = "fit seconds, sample seconds, samples per second, peak memory"
    scores = (
        Score("fit_s", "minimize", 0.0, np.inf, 0.0, "wall seconds in fit"),
        Score("sample_s", "minimize", 0.0, np.inf, 0.0, "wall seconds in sample"),
        Score("samples_per_s", "maximize", 0.0, np.inf, None, "synthetic records per second of sampling"),
        Score("peak_mem_mb", "minimize", 0.0, np.inf, 0.0, "peak resident memory of the process during the job"),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        info = synthetic.info
        if "fit_s" not in info or "sample_s" not in info:
            raise MetricNotApplicable("the job recorded no timings")
        out = {
            "fit_s": float(info["fit_s"]),
            "sample_s": float(info["sample_s"]),
            "samples_per_s": synthetic.n_records / max(float(info["sample_s"]), 1e-9),
        }
        if "peak_mem_mb" in info:
            out["peak_mem_mb"] = float(info["peak_mem_mb"])
        return out
