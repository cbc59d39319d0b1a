"""Dimension-wise prediction (Choi et al. 2017): can each code be predicted from the others as
well from a model trained on synthetic records as from one trained on real records?
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics._stats import safe_pearson
from metrics.base import Metric, Score, SyntheticData, check_columns, features, presence, take_rows


def fit_masked_logistic(
    X: np.ndarray,
    Y: np.ndarray,
    exclude: np.ndarray,
    C: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-5,
    memory: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """K L2-regularised logistic regressions fitted side by side: target k is ``Y[:, k]``, its
    inputs every column of ``X`` except column ``exclude[k]``.

    Each model minimises sklearn's objective up to the factor 1/(C n),
    (1/n) sum_i logloss(y_ik, x_i w_k + b_k) + ||w_k||^2 / (2 C n), intercept not penalised, so
    the solution is sklearn's ``LogisticRegression(C=C)``. The solver is L-BFGS run per model
    (own curvature history, own Armijo step, own stopping test max|grad| <= ``tol``) but
    vectorised over the K models, so each iteration costs two matrix-matrix products instead of
    K solver runs of matrix-vector products: what makes dimension-wise prediction affordable on
    many columns. Returns ``W`` (d x K; excluded weights exactly zero) and intercepts ``b`` (K).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    Xt = np.ascontiguousarray(X.T)
    Y = np.asarray(Y, dtype=np.float64)
    n, d = X.shape
    K = Y.shape[1]
    mask = np.ones((d + 1, K))
    mask[np.asarray(exclude), np.arange(K)] = 0.0  # the last row (intercept) is never masked
    alpha = 1.0 / (C * n)

    def evaluate(V: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Objective values and gradients of the models ``cols``, whose parameters are ``V``
        (d+1 x len(cols)): products over those columns only, so converged models cost nothing."""
        W, b = V[:d], V[d]
        Yc = Y[:, cols]
        Z = (X @ W.astype(np.float32)).astype(np.float64) + b
        f = (np.logaddexp(0.0, Z) - Yc * Z).sum(axis=0) / n + 0.5 * alpha * (W * W).sum(axis=0)
        R = (_sigmoid(Z) - Yc) / n
        G = np.empty_like(V)
        G[:d] = (Xt @ R.astype(np.float32)).astype(np.float64) + alpha * W
        G[d] = R.sum(axis=0)
        return f, G * mask[:, cols]

    everyone = np.arange(K)
    V = np.zeros((d + 1, K))
    prior = np.clip(Y.mean(axis=0), 1e-6, 1 - 1e-6)
    V[d] = np.log(prior / (1 - prior))
    f, G = evaluate(V, everyone)
    S: list[np.ndarray] = []  # per-model histories, full width; a converged model's entries stay 0
    Dg: list[np.ndarray] = []
    rho: list[np.ndarray] = []
    for _ in range(max_iter):
        act = np.flatnonzero(np.abs(G).max(axis=0) > tol)  # a converged model never moves again
        if act.size == 0:
            break
        # two-loop recursion on the active models, each with its own history (rho = 0: pair off)
        g = G[:, act]
        q = g.copy()
        a = []
        for s_i, y_i, r_i in zip(reversed(S), reversed(Dg), reversed(rho), strict=True):
            a_i = r_i[act] * (s_i[:, act] * q).sum(axis=0)
            q -= a_i * y_i[:, act]
            a.append(a_i)
        if S:
            s_l, y_l = S[-1][:, act], Dg[-1][:, act]
            sy, yy = (s_l * y_l).sum(axis=0), (y_l * y_l).sum(axis=0)
            q *= np.where((sy > 0) & (yy > 0), sy / np.where(yy > 0, yy, 1.0), 1.0)
        else:
            q /= np.maximum(np.abs(g).max(axis=0), 1.0)  # first step: at most 1 in any weight
        for s_i, y_i, r_i, a_i in zip(S, Dg, rho, reversed(a), strict=True):
            q += s_i[:, act] * (a_i - r_i[act] * (y_i[:, act] * q).sum(axis=0))
        D = -q
        slope = (g * D).sum(axis=0)
        uphill = slope >= 0  # not a descent direction: fall back to the gradient
        D[:, uphill] = -g[:, uphill]
        slope[uphill] = -(g[:, uphill] ** 2).sum(axis=0)
        # backtracking line search with the Armijo condition; only the models still searching
        # are re-evaluated
        V_new, f_new, G_new = V.copy(), f.copy(), G.copy()
        pending = np.arange(act.size)
        step = np.ones(act.size)
        for _ls in range(30):
            cols = act[pending]
            trial = V[:, cols] + step[pending] * D[:, pending]
            f_t, G_t = evaluate(trial, cols)
            ok = (f_t <= f[cols] + 1e-4 * step[pending] * slope[pending]) | (_ls == 29)
            V_new[:, cols[ok]], f_new[cols[ok]], G_new[:, cols[ok]] = trial[:, ok], f_t[ok], G_t[:, ok]
            pending = pending[~ok]
            if pending.size == 0:
                break
            step[pending] *= 0.5
        s_k, y_k = V_new - V, G_new - G
        sy = (s_k * y_k).sum(axis=0)
        S.append(s_k)
        Dg.append(y_k)
        rho.append(np.where(sy > 1e-12, 1.0 / np.where(sy > 1e-12, sy, 1.0), 0.0))
        if len(S) > memory:
            S.pop(0)
            Dg.pop(0)
            rho.pop(0)
        V, f, G = V_new, f_new, G_new
    return V[:d] * mask[:d], V[d]


def spread_by_prevalence(eligible: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """At most ``k`` of the ``eligible`` codes, evenly spread over their ranking by ``counts``
    (most prevalent first, ties by index), returned in column order: rare and common codes alike
    are evaluated, at a bounded cost."""
    if eligible.size <= k:
        return eligible
    ranked = eligible[np.lexsort((eligible, -counts[eligible]))]
    pick = np.unique(np.round(np.linspace(0, ranked.size - 1, k)).astype(int))
    return np.sort(ranked[pick])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class DimensionWisePrediction(Metric):
    """Per code k, a logistic regression predicts k from all other codes, once trained on real
    training records and once on synthetic records; both are scored on real held-out records
    (AUROC, and F1 at threshold 0.5).

    A generator that learned how codes go together yields synthetic-trained models as good as the
    real-trained ones: per-column scores correlate (r near 1) with a mean gap near 0. A code the
    generator made constant gets a constant prediction (AUROC 0.5, F1 of always predicting that
    value). Caps, all draws seeded by ``random_state``: at most ``max_records`` records train each
    model and at most ``max_test`` held-out records score it; at most ``max_columns`` codes are
    evaluated, those with at least ``min_count`` positives and negatives in both the real training
    sample and the held-out sample, spread evenly over the prevalence ranking when there are more
    (a deterministic choice that keeps rare and common codes).
    """

    name = "dimwise_prediction"
    category = "fidelity"
    description = "per-code logistic regression trained on real vs synthetic, scored on real held-out"
    scores = (
        Score("dwpred_auroc_r", "maximize", -1.0, 1.0, 1.0, "Pearson r of per-code AUROCs, real- vs synthetic-trained"),
        Score("dwpred_auroc_gap", "minimize", -1.0, 1.0, 0.0, "mean per-code AUROC, real-trained minus synthetic-trained"),
        Score("dwpred_auroc_syn", "maximize", 0.0, 1.0, "dwpred_auroc_real", "mean per-code AUROC of the synthetic-trained models"),
        Score("dwpred_auroc_real", "maximize", 0.0, 1.0, 1.0, "mean per-code AUROC of the real-trained models", reference=True),
        Score("dwpred_f1_r", "maximize", -1.0, 1.0, 1.0, "Pearson r of per-code F1, real- vs synthetic-trained"),
        Score("dwpred_f1_gap", "minimize", -1.0, 1.0, 0.0, "mean per-code F1, real-trained minus synthetic-trained"),
        Score("dwpred_f1_syn", "maximize", 0.0, 1.0, "dwpred_f1_real", "mean per-code F1 of the synthetic-trained models"),
        Score("dwpred_f1_real", "maximize", 0.0, 1.0, 1.0, "mean per-code F1 of the real-trained models", reference=True),
    )

    def __init__(
        self,
        random_state: int | None = 0,
        max_columns: int = 50,
        max_records: int = 5000,
        max_test: int = 5000,
        min_count: int = 5,
        C: float = 1.0,
    ) -> None:
        super().__init__(random_state)
        self.max_columns = max_columns
        self.max_records = max_records
        self.max_test = max_test
        self.min_count = min_count
        self.C = C

    def select_columns(self, y_train: np.ndarray, y_test: np.ndarray) -> np.ndarray:
        """The evaluated codes: eligible ones, evenly spread over the prevalence ranking."""
        m = self.min_count
        pos_tr, pos_te = y_train.sum(0), y_test.sum(0)
        ok = (pos_tr >= m) & (len(y_train) - pos_tr >= m) & (pos_te >= m) & (len(y_test) - pos_te >= m)
        return spread_by_prevalence(np.flatnonzero(ok), pos_tr, self.max_columns)

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        if real_train.n_codes < 2:
            raise MetricNotApplicable("predicting a code from the others needs at least two codes")
        rng = self.rng()
        kind = real_train.kind
        X_real = take_rows(real_train, self.max_records, rng)
        X_syn = take_rows(synthetic, self.max_records, rng)
        X_test = take_rows(real_test, self.max_test, rng)
        Y_real, Y_syn, Y_test = presence(X_real), presence(X_syn), presence(X_test)
        cols = self.select_columns(Y_real, Y_test)
        if cols.size == 0:
            raise MetricNotApplicable(
                f"no code has {self.min_count} or more positives and negatives in both the real "
                "training and the held-out records"
            )
        F_real, F_syn, F_test = features(X_real, kind), features(X_syn, kind), features(X_test, kind)
        p_real = self._predict(F_real, Y_real[:, cols], cols, F_test)
        p_syn = self._predict(F_syn, Y_syn[:, cols], cols, F_test)
        truth = Y_test[:, cols]
        auc_r = np.array([roc_auc_score(truth[:, k], p_real[:, k]) for k in range(cols.size)])
        auc_s = np.array([roc_auc_score(truth[:, k], p_syn[:, k]) for k in range(cols.size)])
        f1_r = np.array([f1_score(truth[:, k], p_real[:, k] >= 0.5, zero_division=0.0) for k in range(cols.size)])
        f1_s = np.array([f1_score(truth[:, k], p_syn[:, k] >= 0.5, zero_division=0.0) for k in range(cols.size)])
        return {
            "dwpred_auroc_r": safe_pearson(auc_r, auc_s),
            "dwpred_auroc_gap": float((auc_r - auc_s).mean()),
            "dwpred_auroc_syn": float(auc_s.mean()),
            "dwpred_auroc_real": float(auc_r.mean()),
            "dwpred_f1_r": safe_pearson(f1_r, f1_s),
            "dwpred_f1_gap": float((f1_r - f1_s).mean()),
            "dwpred_f1_syn": float(f1_s.mean()),
            "dwpred_f1_real": float(f1_r.mean()),
        }

    def _predict(self, F: np.ndarray, Y: np.ndarray, cols: np.ndarray, F_test: np.ndarray) -> np.ndarray:
        """Held-out probabilities of the models trained on (F, Y); a target with one class in the
        training records gets that class as a constant prediction (no model can be fitted)."""
        out = np.empty((F_test.shape[0], cols.size))
        frac = Y.mean(axis=0)
        fit = np.flatnonzero((frac > 0) & (frac < 1))
        out[:, frac == 0] = 0.0
        out[:, frac == 1] = 1.0
        if fit.size:
            W, b = fit_masked_logistic(F, Y[:, fit], cols[fit], C=self.C)
            out[:, fit] = _sigmoid(np.asarray(F_test, dtype=np.float64) @ W + b)
        return out
