"""Record length: the mean number of codes a synthetic record holds, against the real records'."""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from metrics.base import Metric, Score, Scores, SyntheticData, check_columns


class CodesPerRecord(Metric):
    """|mean codes per synthetic record - mean codes per real training record| / the real mean."""

    name = "codes_per_record"
    category = "fidelity"
    description = "relative gap in the mean number of codes per record (record length)"
    default = False  # a plugin's metric runs when named: -m codes_per_record
    scores = (
        Score("codes_per_record_gap", "minimize", lower=0.0, ideal=0.0,
              description="|synthetic mean - real mean| / real mean of distinct codes per record"),
        Score("codes_per_record_real", "maximize", lower=0.0, reference=True,
              description="mean distinct codes per real training record (a reference: shown, never ranked)"),
        Score("codes_per_record_synthetic", "target", lower=0.0, ideal="codes_per_record_real",
              description="mean distinct codes per synthetic record"),
    )

    def compute(self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData) -> Scores:
        check_columns(real_train, synthetic)
        real = float((np.asarray(real_train.X) > 0).sum(axis=1).mean())
        syn = float((np.asarray(synthetic.X) > 0).sum(axis=1).mean())
        out = {"codes_per_record_real": real, "codes_per_record_synthetic": syn}
        notes = {}
        if real > 0:
            out["codes_per_record_gap"] = abs(syn - real) / real
        else:
            notes["codes_per_record_gap"] = "the real records hold no code"
        return Scores(out, notes)
