"""Utility: train on synthetic, test on real (TSTR), beside train on real, test on real (TRTR).

Besides the held-out AUROC / AUPRC of both models, the metric compares what the two models rely
on: the overlap of their top-ranked features. A synthetic set can reach a good AUROC through
different (spurious) predictors than the real data uses; the overlap shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics.base import Metric, Score, SyntheticData, check_columns

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression
    from xgboost import XGBClassifier

TOP_K = 25


def make_logistic(random_state: int | None) -> LogisticRegression:
    """The logistic regression of TSTR / TRTR: L2, C = 1, lbfgs."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=1.0, random_state=random_state)


def make_xgboost(random_state: int | None, n_estimators: int = 200) -> XGBClassifier:
    """The gradient-boosted trees of TSTR / TRTR and of the detection metric (depth 4, 200 trees unless told).

    One thread: on a machine whose cores are busy, OpenMP's spin-waiting makes two xgboost
    threads several times slower than one (measured: 2.4x on 40,000 x 1,000), and the sparse
    input below already makes a fit cheap.
    """
    from xgboost import XGBClassifier

    from metrics.device import xgboost_device

    return XGBClassifier(
        n_estimators=n_estimators,
        max_depth=4,
        learning_rate=0.1,
        subsample=0.8,
        tree_method="hist",
        n_jobs=1,
        random_state=0 if random_state is None else random_state,
        verbosity=0,
        device=xgboost_device(),
    )


def model_input(X: np.ndarray) -> object:
    """Records as the models should see them: sparse (CSR) when most cells are zero.

    xgboost treats the cells a sparse matrix leaves out as missing and learns which side of a
    split they go to, so a split on a code is still "absent vs present" (the same partitions,
    the same model) while building histograms costs time in the non-zeros only: 8.6x faster on
    40,000 x 1,000 records of density 0.05, identical AUROC. sklearn's logistic regression
    solves the same problem on it with sparse products and no float64 copy of the records
    (3.8x faster on 50,000 x 1,000, same iterations and AUROC).
    """
    import scipy.sparse as sp

    X = np.asarray(X, dtype=np.float32)
    return sp.csr_matrix(X) if np.count_nonzero(X) < 0.5 * X.size else X


def importance(model: str, clf: object, X: np.ndarray) -> np.ndarray:
    """Per-feature importance of a fitted model.

    Logistic regression: |coefficient| x the feature's standard deviation in the model's training
    data (the standardised coefficient, so a rare code with a large coefficient but little
    influence does not outrank a common one). xgboost: total gain of the feature's splits.
    """
    if model == "lr":
        return np.abs(clf.coef_[0]) * np.asarray(X).std(axis=0, dtype=np.float64)  # type: ignore[attr-defined]
    scores = clf.get_booster().get_score(importance_type="total_gain")  # type: ignore[attr-defined]
    out = np.zeros(X.shape[1])
    for key, value in scores.items():
        out[int(key[1:])] = value  # features are named f0, f1, ...
    return out


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values; ties go to the lower index, so the ranking is reproducible."""
    order = np.lexsort((np.arange(values.size), -values))
    return order[:k]


def overlap_k(n_features: int) -> int:
    """The top-k size: 25 (the literature's choice), at most half the features, so that on small
    data the overlap is not trivially complete."""
    return max(1, min(TOP_K, n_features // 2))


def _fit_predict(
    model: str, X: np.ndarray, y: np.ndarray, X_test: np.ndarray, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    if model == "xgb":
        clf = make_xgboost(seed)
        clf.fit(model_input(X), y)
        return clf.predict_proba(model_input(X_test))[:, 1], importance(model, clf, X)
    clf = make_logistic(seed)
    clf.fit(model_input(X), y)
    return clf.predict_proba(model_input(X_test))[:, 1], importance(model, clf, X)


_TRTR_CACHE: dict[tuple[str, str, str, int | None, str], tuple[float, float, np.ndarray]] = {}


def trtr(model: str, train: EHRDataset, test: EHRDataset, seed: int | None) -> tuple[float, float, np.ndarray]:
    """The reference: the same model trained on real training records, cached per split.

    Returns held-out AUROC, AUPRC and the model's feature importances.
    """
    from metrics.device import xgboost_device

    key = (model, train.fingerprint, test.fingerprint, seed, xgboost_device())
    if key not in _TRTR_CACHE:
        p, imp = _fit_predict(model, train.X, train.y, test.X, seed)
        _TRTR_CACHE[key] = (float(roc_auc_score(test.y, p)), float(average_precision_score(test.y, p)), imp)
    return _TRTR_CACHE[key]


class _TSTR(Metric):
    """A model trained on synthetic records and one trained on real records, both scored on the
    real held-out records."""

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
        check_columns(real_train, synthetic)
        y_syn = np.asarray(synthetic.y)
        if y_syn.shape[0] != synthetic.n_records:
            raise MetricNotApplicable(f"{y_syn.shape[0]} synthetic labels for {synthetic.n_records} records")
        classes = np.unique(y_syn)
        if classes.size < 2:
            raise MetricNotApplicable(
                f"the synthetic labels hold one class only ({classes.tolist()}): no classifier can be trained"
            )
        if not np.isin(classes, [0, 1]).all():
            raise MetricNotApplicable(f"the synthetic labels must be 0/1, found {classes[:5].tolist()}")
        p, imp_syn = _fit_predict(self.model, synthetic.X, y_syn.astype(int), real_test.X, self.random_state)
        auroc = float(roc_auc_score(real_test.y, p))
        auprc = float(average_precision_score(real_test.y, p))
        ref_auroc, ref_auprc, imp_real = trtr(self.model, real_train, real_test, self.random_state)
        k = overlap_k(real_train.n_codes)
        shared = np.intersect1d(top_k(imp_real, k), top_k(imp_syn, k)).size
        m = self.model
        return {
            f"tstr_{m}_auroc": auroc,
            f"trtr_{m}_auroc": ref_auroc,
            f"tstr_{m}_auroc_gap": ref_auroc - auroc,
            f"tstr_{m}_auprc": auprc,
            f"trtr_{m}_auprc": ref_auprc,
            f"tstr_{m}_auprc_gap": ref_auprc - auprc,
            f"tstr_{m}_importance_overlap": shared / k,
        }


def _tstr_scores(m: str, label: str) -> tuple[Score, ...]:
    return (
        Score(f"tstr_{m}_auroc", "maximize", 0.0, 1.0, 1.0, f"{label} trained on synthetic, AUROC on real held-out",
              blind=0.5),
        Score(f"trtr_{m}_auroc", "maximize", 0.0, 1.0, 1.0, f"{label} trained on real (reference)", reference=True),
        Score(f"tstr_{m}_auroc_gap", "minimize", -1.0, 1.0, 0.0, "TRTR AUROC minus TSTR AUROC"),
        Score(f"tstr_{m}_auprc", "maximize", 0.0, 1.0, 1.0, f"{label} trained on synthetic, AUPRC on real held-out"),
        Score(f"trtr_{m}_auprc", "maximize", 0.0, 1.0, 1.0, f"{label} trained on real (reference)", reference=True),
        Score(f"tstr_{m}_auprc_gap", "minimize", -1.0, 1.0, 0.0, "TRTR AUPRC minus TSTR AUPRC"),
        Score(
            f"tstr_{m}_importance_overlap", "maximize", 0.0, 1.0, 1.0,
            "shared share of the top-25 features (top d/2 below 50 codes), real- vs synthetic-trained",
        ),
    )


class TSTRLogistic(_TSTR):
    """TSTR beside TRTR with L2 logistic regression (C = 1): the linear signal of the label.

    Held-out AUROC and AUPRC of the model trained on synthetic records, of the same model trained
    on real training records (reference, cached per split) and their gaps; agreement of the two
    models' top-25 standardised coefficients.
    """

    name = "tstr_lr"
    model = "lr"
    description = "TSTR / TRTR with logistic regression"
    scores = _tstr_scores("lr", "logistic regression")


class TSTRXGBoost(_TSTR):
    """TSTR beside TRTR with gradient-boosted trees (xgboost, 200 trees of depth 4): the label's
    non-linear signal, including interactions of codes a generator must reproduce.

    Same scores as :class:`TSTRLogistic`; importance is the features' total split gain.
    """

    name = "tstr_xgb"
    model = "xgb"
    description = "TSTR / TRTR with gradient-boosted trees (xgboost)"
    scores = _tstr_scores("xgb", "xgboost")
