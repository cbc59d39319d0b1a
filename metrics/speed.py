"""Speed: what the harness measured while the generator trained and sampled."""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics.base import Metric, Score, SyntheticData

# scores read from ``synthetic.info`` when the job recorded them (GPU memory only on a GPU,
# network evaluations only for generators that report them in their diagnostics)
OPTIONAL = ("peak_mem_mb", "gpu_peak_mem_mb", "nfe", "nfe_total")


class Speed(Metric):
    """Fit and sample wall time, throughput, peak resident memory, peak GPU memory and network
    function evaluations (NFE) per sample of diffusion samplers, both sequential (``nfe``: calls
    that must run one after another, the latency on hardware that batches timesteps) and total
    (``nfe_total``: every evaluation, the work on hardware that does not). A parallel sampler
    such as ParaTAA wins on the first and loses on the second; the tables carry both.

    The harness measures these around ``fit`` and ``sample`` and passes them in
    ``synthetic.info``; NFE comes from the generator's diagnostics. A score the job did not
    record (GPU memory on a CPU machine) is left out rather than reported as zero.
    """

    name = "speed"
    category = "speed"
    description = "fit seconds, sample seconds, samples per second, peak memory, network evaluations"
    scores = (
        Score("fit_s", "minimize", 0.0, np.inf, 0.0, "wall seconds in fit"),
        Score("sample_s", "minimize", 0.0, np.inf, 0.0, "wall seconds in sample"),
        Score("samples_per_s", "maximize", 0.0, np.inf, None, "synthetic records per second of sampling"),
        Score("peak_mem_mb", "minimize", 0.0, np.inf, 0.0, "peak resident memory of the process during the job"),
        Score("gpu_peak_mem_mb", "minimize", 0.0, np.inf, 0.0, "peak GPU memory allocated during the job"),
        Score(
            "nfe", "minimize", 0.0, np.inf, None,
            "sequential network function evaluations per record (batched calls count once): latency",
        ),
        Score(
            "nfe_total", "minimize", 0.0, np.inf, None,
            "every (record, timestep) network evaluation per record: the work done",
        ),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        info = synthetic.info
        if info.get("fit_s") is None or info.get("sample_s") is None:
            raise MetricNotApplicable("the job recorded no timings")
        out = {
            "fit_s": float(info["fit_s"]),
            "sample_s": float(info["sample_s"]),
            "samples_per_s": synthetic.n_records / max(float(info["sample_s"]), 1e-9),
        }
        for key in OPTIONAL:
            if info.get(key) is not None:
                out[key] = float(info[key])
        return out
