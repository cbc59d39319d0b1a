"""Privacy: can an attacker tell who was in the training data from the synthetic records?"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score

from bench.dataset import EHRDataset
from metrics._distance import nearest_distances
from metrics.base import Metric, Score, SyntheticData


class DistanceMembershipInference(Metric):
    """Membership inference from the distance to the closest synthetic record.

    The attacker holds a real record and calls it a training member when a synthetic record lies
    close to it. Members are training records, non-members the held-out records (equal numbers,
    drawn with the metric's seed). AUROC 0.5 means the synthetic data tells the attacker nothing;
    1.0 means it gives every member away, as copying the training rows does.
    """

    name = "mia_dcr"
    category = "privacy"
    description = "membership inference by distance to the closest synthetic record"
    scores = (
        Score("mia_dcr_auroc", "minimize", 0.0, 1.0, 0.5, "attack AUROC, members vs held-out"),
        Score("mia_dcr_best_f1", "minimize", 0.0, 1.0, None, "attack F1 at its best threshold"),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        rng = np.random.default_rng(self.random_state)
        m = min(real_train.n_records, real_test.n_records)
        members = real_train.X[rng.choice(real_train.n_records, m, replace=False)]
        outsiders = real_test.X[rng.choice(real_test.n_records, m, replace=False)]
        d_in = nearest_distances(members, synthetic.X)[:, 0]
        d_out = nearest_distances(outsiders, synthetic.X)[:, 0]
        truth = np.r_[np.ones(m), np.zeros(m)]
        score = -np.r_[d_in, d_out]  # closer -> more likely a member
        precision, recall, _ = precision_recall_curve(truth, score)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
        return {"mia_dcr_auroc": float(roc_auc_score(truth, score)), "mia_dcr_best_f1": float(f1.max())}
