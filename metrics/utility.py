"""Utility: train on synthetic, test on real (TSTR), beside train on real, test on real (TRTR)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from bench.dataset import EHRDataset
from bench.errors import MetricNotApplicable
from metrics.base import Metric, Score, SyntheticData


def make_logistic(random_state: int | None):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=1.0, random_state=random_state)


def make_xgboost(random_state: int | None):
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=200,
        max_depth=4,
        learning_rate=0.1,
        subsample=0.8,
        tree_method="hist",
        n_jobs=2,
        random_state=0 if random_state is None else random_state,
        verbosity=0,
    )


_MODELS = {"lr": make_logistic, "xgb": make_xgboost}


def _fit_predict(model: str, X: np.ndarray, y: np.ndarray, X_test: np.ndarray, seed: int | None) -> np.ndarray:
    clf = _MODELS[model](seed)
    clf.fit(X, y)
    return clf.predict_proba(X_test)[:, 1]


_TRTR_CACHE: dict[tuple[str, str, str, int | None], tuple[float, float]] = {}


def trtr(model: str, train: EHRDataset, test: EHRDataset, seed: int | None) -> tuple[float, float]:
    """The reference: the same model trained on real training records, cached per split."""
    key = (model, train.fingerprint, test.fingerprint, seed)
    if key not in _TRTR_CACHE:
        p = _fit_predict(model, train.X, train.y, test.X, seed)
        _TRTR_CACHE[key] = (float(roc_auc_score(test.y, p)), float(average_precision_score(test.y, p)))
    return _TRTR_CACHE[key]


class _TSTR(Metric):
    model: ClassVar[str] = ""
    category = "utility"
    needs_label = True

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        if real_train.y is None or real_test.y is None:
            raise MetricNotApplicable("the real data has no label")
        if synthetic.y is None:
            raise MetricNotApplicable("the synthetic records carry no label")
        classes = np.unique(synthetic.y)
        if classes.size < 2:
            raise MetricNotApplicable(
                f"the synthetic labels hold one class only ({classes.tolist()}): no classifier can be trained"
            )
        p = _fit_predict(self.model, synthetic.X, synthetic.y.astype(int), real_test.X, self.random_state)
        auroc = float(roc_auc_score(real_test.y, p))
        auprc = float(average_precision_score(real_test.y, p))
        ref_auroc, ref_auprc = trtr(self.model, real_train, real_test, self.random_state)
        m = self.model
        return {
            f"tstr_{m}_auroc": auroc,
            f"trtr_{m}_auroc": ref_auroc,
            f"tstr_{m}_auroc_gap": ref_auroc - auroc,
            f"tstr_{m}_auprc": auprc,
            f"trtr_{m}_auprc": ref_auprc,
        }


def _tstr_scores(m: str, label: str) -> tuple[Score, ...]:
    return (
        Score(f"tstr_{m}_auroc", "maximize", 0.0, 1.0, 1.0, f"{label} trained on synthetic, AUROC on real held-out"),
        Score(f"trtr_{m}_auroc", "maximize", 0.0, 1.0, 1.0, f"{label} trained on real (reference)", reference=True),
        Score(f"tstr_{m}_auroc_gap", "minimize", -1.0, 1.0, 0.0, "TRTR AUROC minus TSTR AUROC"),
        Score(f"tstr_{m}_auprc", "maximize", 0.0, 1.0, 1.0, f"{label} trained on synthetic, AUPRC on real held-out"),
        Score(f"trtr_{m}_auprc", "maximize", 0.0, 1.0, 1.0, f"{label} trained on real (reference)", reference=True),
    )


class TSTRLogistic(_TSTR):
    name = "tstr_lr"
    model = "lr"
    description = "TSTR / TRTR with logistic regression"
    scores = _tstr_scores("lr", "logistic regression")


class TSTRXGBoost(_TSTR):
    name = "tstr_xgb"
    model = "xgb"
    description = "TSTR / TRTR with gradient-boosted trees (xgboost)"
    scores = _tstr_scores("xgb", "xgboost")
