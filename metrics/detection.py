"""Fidelity seen by models of the pooled real and synthetic records: a classifier that tries to
tell them apart, and a clustering that should mix them evenly.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics.base import Metric, Score, SyntheticData, check_columns, features, take_rows


def _pooled(
    real_train: EHRDataset, synthetic: SyntheticData, cap: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Equal numbers of real training and synthetic records (at most ``cap`` each), stacked, with
    1 marking the synthetic ones. Equal sizes make 0.5 the chance level of both metrics."""
    m = min(real_train.n_records, synthetic.n_records, cap)
    real = take_rows(real_train, m, rng)
    syn = take_rows(synthetic, m, rng)
    X = features(np.vstack([real, syn]), real_train.kind)
    return X, np.r_[np.zeros(m), np.ones(m)]


class Detection(Metric):
    """Detection AUROC: gradient-boosted trees (xgboost) trained to tell real training records
    from synthetic ones, scored by cross-validated (out-of-fold) AUROC.

    0.5 means the classifier cannot tell them apart (perfect fidelity, or an exact copy of the
    training data); 1.0 means every synthetic record is recognisable. Below 0.5 is sampling noise.
    At most ``max_records`` records of each kind, drawn with ``random_state``; ``n_folds``-fold
    stratified cross-validation so every record is scored by a model that did not see it, with
    identical records kept in one fold (a copy of a training record is then as undetectable as
    the record itself: 0.5, not the below-chance score split twins would give).
    """

    name = "detection"
    category = "fidelity"
    description = "xgboost real-vs-synthetic classifier, cross-validated AUROC"
    scores = (
        Score("detection_auroc", "minimize", 0.0, 1.0, 0.5, "out-of-fold AUROC of a real-vs-synthetic classifier"),
    )

    def __init__(
        self, random_state: int | None = 0, max_records: int = 5000, n_folds: int = 3, n_estimators: int = 100
    ) -> None:
        super().__init__(random_state)
        self.max_records = max_records
        self.n_folds = n_folds
        self.n_estimators = n_estimators

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        from sklearn.model_selection import StratifiedGroupKFold

        from metrics.privacy import row_ids
        from metrics.utility import make_xgboost, model_input

        check_columns(real_train, synthetic)
        if synthetic.n_records < self.n_folds:
            raise MetricNotApplicable(f"{self.n_folds}-fold detection needs at least {self.n_folds} synthetic records")
        X, y = _pooled(real_train, synthetic, self.max_records, self.rng())
        seed = 0 if self.random_state is None else self.random_state
        Xb = model_input(X)
        score = np.empty(len(y))
        # identical records (a real record and its synthetic copy, or real duplicates) share a
        # fold: split apart, the model would learn the twin's opposite label and score below 0.5
        groups = row_ids(X)[0]
        folds = StratifiedGroupKFold(self.n_folds, shuffle=True, random_state=seed)
        for fit_idx, held_idx in folds.split(X, y, groups):
            clf = make_xgboost(seed, n_estimators=self.n_estimators)  # one thread, sparse input: see model_input
            clf.fit(Xb[fit_idx], y[fit_idx])
            score[held_idx] = clf.predict_proba(Xb[held_idx])[:, 1]
        return {"detection_auroc": float(roc_auc_score(y, score))}


class LatentClusterAnalysis(Metric):
    """Latent cluster analysis (Goncalves et al. 2020): PCA, then k-means, on the pooled real
    training and synthetic records; in a good synthetic set every cluster holds real and synthetic
    records in the pooled proportion c (0.5 here: equal numbers of each are pooled).

    ``lca_mse`` = (1/G) sum_j (n_j_real / n_j - c)^2, the statistic whose logarithm Goncalves
    et al. report (the log is left out so that a perfect mix scores 0, not minus infinity);
    ``lca_max_dev`` is the worst cluster's |n_j_real / n_j - c|, 0.5 when some cluster holds one
    kind of record only. Caps: at most ``max_records`` records of each kind; ``n_components``
    principal components; ``n_clusters`` clusters; all seeded by ``random_state``.
    """

    name = "latent_cluster"
    category = "fidelity"
    description = "PCA + k-means on pooled real and synthetic records: how evenly clusters mix"
    scores = (
        Score("lca_mse", "minimize", 0.0, 0.25, 0.0, "mean squared deviation of clusters' real share from 0.5"),
        Score("lca_max_dev", "minimize", 0.0, 0.5, 0.0, "largest deviation of a cluster's real share from 0.5"),
    )

    def __init__(
        self, random_state: int | None = 0, max_records: int = 5000, n_components: int = 10, n_clusters: int = 10
    ) -> None:
        super().__init__(random_state)
        self.max_records = max_records
        self.n_components = n_components
        self.n_clusters = n_clusters

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        from sklearn.cluster import KMeans
        from sklearn.decomposition import PCA

        check_columns(real_train, synthetic)
        X, is_syn = _pooled(real_train, synthetic, self.max_records, self.rng())
        if len(X) < 2 * self.n_clusters:
            raise MetricNotApplicable(f"{len(X)} pooled records are too few for {self.n_clusters} clusters")
        seed = 0 if self.random_state is None else self.random_state
        n_comp = min(self.n_components, X.shape[1], len(X) - 1)
        Z = PCA(n_comp, svd_solver="randomized", random_state=seed).fit_transform(X)
        labels = KMeans(self.n_clusters, n_init=4, random_state=seed).fit_predict(Z)
        size = np.bincount(labels, minlength=self.n_clusters)
        real = np.bincount(labels, weights=1.0 - is_syn, minlength=self.n_clusters)
        used = size > 0
        dev = real[used] / size[used] - 0.5
        return {"lca_mse": float((dev**2).mean()), "lca_max_dev": float(np.abs(dev).max())}
