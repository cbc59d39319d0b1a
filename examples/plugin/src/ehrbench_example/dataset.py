"""``example-clinic``: a SIMULATED clinic (no patient's record), as a plugin's dataset entry.

Records are drawn from three latent patient groups, each with its own code rates; the label (an
outcome) is more frequent in one group. The entry declares its options (default, help) and names
its loader as ``"module:function"`` text, imported when the dataset is used.
"""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from bench.datasets.spec import DatasetEntry, Option


def simulate(n_records: int = 400, n_codes: int = 20, seed: int = 0) -> EHRDataset:
    rng = np.random.default_rng(seed)
    group = rng.choice(3, size=n_records, p=[0.5, 0.3, 0.2])
    rates = rng.uniform(0.02, 0.12, size=(3, n_codes))
    for g in range(3):  # each group has a block of common codes
        rates[g, g * n_codes // 3:(g + 1) * n_codes // 3] += 0.4
    X = (rng.random((n_records, n_codes)) < rates[group]).astype(np.float32)
    y = (rng.random(n_records) < np.array([0.1, 0.2, 0.5])[group]).astype(np.int64)
    return EHRDataset(X=X, y=y, columns=[f"code{j:02d}" for j in range(n_codes)], kind="binary",
                      name="example-clinic", label_name="outcome", source="simulated (ehrbench_example)")


CLINIC = DatasetEntry(
    "example-clinic",
    "SIMULATED clinic from the example plugin: three patient groups, 400 x 20 binary codes; label = outcome",
    "ehrbench_example.dataset:simulate",
    options={
        "n_records": Option(400, "records"),
        "n_codes": Option(20, "codes"),
        "seed": Option(0, "simulation seed"),
    },
)
