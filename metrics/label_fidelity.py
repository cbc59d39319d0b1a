"""Label fidelity: do records generated for a label look, to a real-trained model, like that label?

A conditional generator is asked for records of given labels. A logistic regression trained on the
real training records scores the synthetic records; its AUROC against the labels they were
generated for is set beside the same model's AUROC on real held-out records. A generator that
preserves the label lands near the real reference; one that ignores it scores about 0.5; one that
exaggerates the label (e.g. too strong guidance) scores above the reference.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics.base import Metric, Score, SyntheticData

_MODEL_CACHE: dict[tuple[str, int | None], object] = {}


def real_classifier(train: EHRDataset, random_state: int | None) -> object:
    """The logistic regression on real training records, cached per training set and seed: every
    generator of a run is judged by the very same model."""
    from sklearn.linear_model import LogisticRegression

    key = (train.fingerprint, random_state)
    if key not in _MODEL_CACHE:
        clf = LogisticRegression(max_iter=2000, C=1.0, random_state=random_state)
        clf.fit(train.X, train.y)
        _MODEL_CACHE[key] = clf
    return _MODEL_CACHE[key]


class LabelFidelity(Metric):
    """AUROC of a real-trained classifier on synthetic records against their generated labels."""

    name = "label_fidelity"
    category = "utility"
    needs_label = True
    description = "real-trained logistic regression scored on synthetic records vs the labels they were generated for"
    scores = (
        Score("label_fidelity_auroc", "target", 0.0, 1.0, "label_fidelity_real_auroc",
              "AUROC of the real-trained classifier on synthetic records vs their generated labels", blind=0.5),
        Score("label_fidelity_real_auroc", "maximize", 0.0, 1.0, 1.0,
              "the same classifier on real held-out records (the reference)", reference=True),
        Score("label_fidelity_gap", "target", -1.0, 1.0, 0.0,
              "synthetic AUROC minus real held-out AUROC: 0 preserves the label, < 0 blurs it, > 0 exaggerates it"),
        Score("label_fidelity_positive_rate", "target", 0.0, 1.0, "label_fidelity_real_positive_rate",
              "mean predicted probability of label 1 on synthetic records generated for label 1"),
        Score("label_fidelity_negative_rate", "target", 0.0, 1.0, "label_fidelity_real_negative_rate",
              "mean predicted probability of label 1 on synthetic records generated for label 0"),
        Score("label_fidelity_real_positive_rate", "maximize", 0.0, 1.0, None,
              "mean predicted probability of label 1 on real held-out records of label 1 (reference)", reference=True),
        Score("label_fidelity_real_negative_rate", "minimize", 0.0, 1.0, None,
              "mean predicted probability of label 1 on real held-out records of label 0 (reference)", reference=True),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        if real_train.y is None or real_test.y is None:
            raise MetricNotApplicable("the real data has no label")
        if synthetic.y is None:
            raise MetricNotApplicable("the synthetic records carry no label (unconditional generator)")
        y_syn = np.asarray(synthetic.y).astype(int)
        classes = np.unique(y_syn)
        if classes.size < 2:
            raise MetricNotApplicable(
                f"the synthetic labels hold one class only ({classes.tolist()}): AUROC is undefined"
            )
        if synthetic.X.shape[1] != real_train.n_codes:
            raise MetricNotApplicable(
                f"synthetic records have {synthetic.X.shape[1]} columns, the real data {real_train.n_codes}"
            )
        clf = real_classifier(real_train, self.random_state)
        p_syn = clf.predict_proba(np.asarray(synthetic.X, dtype=np.float32))[:, 1]  # type: ignore[attr-defined]
        p_real = clf.predict_proba(real_test.X)[:, 1]  # type: ignore[attr-defined]
        auroc = float(roc_auc_score(y_syn, p_syn))
        y_real = np.asarray(real_test.y).astype(int)
        ref = float(roc_auc_score(y_real, p_real))
        return {
            "label_fidelity_auroc": auroc,
            "label_fidelity_real_auroc": ref,
            "label_fidelity_gap": auroc - ref,
            "label_fidelity_positive_rate": float(p_syn[y_syn == 1].mean()),
            "label_fidelity_negative_rate": float(p_syn[y_syn == 0].mean()),
            "label_fidelity_real_positive_rate": float(p_real[y_real == 1].mean()),
            "label_fidelity_real_negative_rate": float(p_real[y_real == 0].mean()),
        }
