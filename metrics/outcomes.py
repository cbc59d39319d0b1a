"""The headline utility: TSTR over many outcome codes, with the real-trained reference beside it.

A single label leaves no room between generators: the class-conditional independent baseline is a
naive Bayes model, so on a mostly additive outcome its TSTR sits near TRTR (eunomia: 0.610 against
0.635). Predicting many codes, each from all the others, needs the joint structure of the codes,
which the independent baseline does not have (its synthetic-trained models score about 0.5 on
real records), while the real-trained models reach well above it.

Outcome rule (training records only, never the held-out ones): eligible codes have at least
``min_count`` positives and as many negatives in the real training sample, and no near-duplicate
(|phi| with every other code below ``max_pair_phi`` = 0.9: on eunomia dozens of drug codes come
in pairs that always co-occur, and "predicting" a code from its twin is copying a column, not
using the joint structure; with them the real reference is a trivial 1.000); at most
``max_candidates`` of them, evenly spread over the prevalence ranking, are candidates; the
training sample is split in two halves (seeded), a logistic regression per candidate is fitted on
one half and scored (AUROC) on the other; the candidates reaching ``min_inner_auroc`` = 0.6 there
(the other codes carry signal about them: a code nothing predicts separates no generator) are
ranked by that inner AUROC and ``n_outcomes`` = 20 of them, evenly spread over the ranking, are
the outcomes (easy and hard ones alike, so neither trivially predictable codes nor only the
hardest ones carry the mean). The held-out records are used for scoring only; an outcome that holds a
single class among them is dropped (noted), since its AUROC is undefined.

Models: L2 logistic regression (C = 1) per outcome on all other codes, fitted side by side by
:func:`metrics.prediction.fit_masked_logistic`; one set trained on synthetic records (TSTR), one on
the real training records (TRTR, the reference), both scored on the real held-out records.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics.base import Metric, Score, Scores, SyntheticData, check_columns, features, presence, take_rows
from metrics.prediction import _sigmoid, fit_masked_logistic, spread_by_prevalence


def max_abs_phi(Y: np.ndarray) -> np.ndarray:
    """Per column, the largest |phi| (Pearson r of 0/1 columns) with any other column; 0 for a
    constant column."""
    Y = np.asarray(Y, dtype=np.float64)
    mean = Y.mean(axis=0)
    sd = Y.std(axis=0)
    live = sd > 0
    Z = (Y[:, live] - mean[live]) / sd[live]
    R = np.abs(Z.T @ Z) / len(Y)
    np.fill_diagonal(R, 0.0)
    out = np.zeros(Y.shape[1])
    out[live] = R.max(axis=0) if R.size else 0.0
    return out


_SELECTION_CACHE: dict[tuple, np.ndarray] = {}
_TRTR_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


class MultiOutcomeTSTR(Metric):
    """Mean held-out AUROC over many outcome codes, models trained on synthetic records (TSTR)
    beside the same models trained on real training records (TRTR, reference)."""

    name = "outcomes_tstr"
    category = "utility"
    description = "TSTR over many outcome codes (each predicted from the others), outcomes chosen on training data"
    scores = (
        Score("outcomes_tstr_auroc", "maximize", 0.0, 1.0, "outcomes_trtr_auroc",
              "mean held-out AUROC over the outcome codes, models trained on synthetic records"),
        Score("outcomes_trtr_auroc", "maximize", 0.0, 1.0, 1.0,
              "the same models trained on real training records (reference)", reference=True),
        Score("outcomes_tstr_auroc_gap", "minimize", -1.0, 1.0, 0.0,
              "outcomes TRTR AUROC minus TSTR AUROC (no credit below 0)"),
    )

    def __init__(
        self,
        random_state: int | None = 0,
        n_outcomes: int = 20,
        max_candidates: int = 100,
        min_count: int = 20,
        min_inner_auroc: float = 0.6,
        max_pair_phi: float = 0.9,
        max_records: int = 5000,
        max_test: int = 5000,
        C: float = 1.0,
    ) -> None:
        super().__init__(random_state)
        self.n_outcomes = n_outcomes
        self.max_candidates = max_candidates
        self.min_count = min_count
        self.max_pair_phi = max_pair_phi
        self.min_inner_auroc = min_inner_auroc
        self.max_records = max_records
        self.max_test = max_test
        self.C = C

    # ----------------------------------------------------------------------- outcome selection
    def candidates(self, Y_train: np.ndarray) -> np.ndarray:
        """Eligible codes of the training sample, evenly spread over the prevalence ranking."""
        pos = Y_train.sum(axis=0)
        ok = (pos >= self.min_count) & (len(Y_train) - pos >= self.min_count)
        ok &= max_abs_phi(Y_train) < self.max_pair_phi
        return spread_by_prevalence(np.flatnonzero(ok), pos, self.max_candidates)

    def select_outcomes(self, F_train: np.ndarray, Y_train: np.ndarray) -> np.ndarray:
        """The outcome codes, from the training records alone (see the module docstring)."""
        cand = self.candidates(Y_train)
        if cand.size == 0:
            return cand
        rng = np.random.default_rng(self.random_state)
        perm = rng.permutation(len(Y_train))
        a, b = np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2 :])
        Ya, Yb = Y_train[a][:, cand], Y_train[b][:, cand]
        fit = (Ya.min(axis=0) < Ya.max(axis=0)) & (Yb.min(axis=0) < Yb.max(axis=0))
        auc = np.full(cand.size, -np.inf)
        if fit.any():
            W, c = fit_masked_logistic(F_train[a], Ya[:, fit], cand[fit], C=self.C)
            p = _sigmoid(np.asarray(F_train[b], dtype=np.float64) @ W + c)
            auc[fit] = [roc_auc_score(Yb[:, j], p[:, i]) for i, j in enumerate(np.flatnonzero(fit))]
        useful = np.flatnonzero(auc >= self.min_inner_auroc)  # the other codes carry signal
        if useful.size <= self.n_outcomes:
            return np.sort(cand[useful])
        ranked = useful[np.lexsort((cand[useful], -auc[useful]))]  # easiest first, ties by code
        pick = np.unique(np.round(np.linspace(0, ranked.size - 1, self.n_outcomes)).astype(int))
        return np.sort(cand[ranked[pick]])

    # --------------------------------------------------------------------------------- compute
    def _predict(self, F: np.ndarray, Y: np.ndarray, cols: np.ndarray, F_test: np.ndarray) -> np.ndarray:
        out = np.empty((F_test.shape[0], cols.size))
        frac = Y.mean(axis=0)
        fit = np.flatnonzero((frac > 0) & (frac < 1))
        out[:, frac == 0] = 0.0  # a code the training records never (or always) hold: constant
        out[:, frac == 1] = 1.0
        if fit.size:
            W, b = fit_masked_logistic(F, Y[:, fit], cols[fit], C=self.C)
            out[:, fit] = _sigmoid(np.asarray(F_test, dtype=np.float64) @ W + b)
        return out

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        notes: dict[str, str] = {}
        check_columns(real_train, synthetic)
        if real_train.n_codes < 3:
            raise MetricNotApplicable("predicting codes from the others needs at least three codes")
        rng = self.rng()
        kind = real_train.kind
        X_real = take_rows(real_train, self.max_records, rng)
        X_syn = take_rows(synthetic, self.max_records, rng)
        X_test = take_rows(real_test, self.max_test, rng)
        F_real, F_syn, F_test = features(X_real, kind), features(X_syn, kind), features(X_test, kind)
        Y_real, Y_syn, Y_test = presence(X_real), presence(X_syn), presence(X_test)
        params = (self.random_state, self.n_outcomes, self.max_candidates, self.min_count, self.max_pair_phi, self.min_inner_auroc,
                  self.max_records, self.C)
        key = (real_train.fingerprint, *params)
        if key not in _SELECTION_CACHE:
            _SELECTION_CACHE[key] = self.select_outcomes(F_real, Y_real)
        cols = _SELECTION_CACHE[key]
        if cols.size:
            both = (Y_test[:, cols].min(axis=0) < Y_test[:, cols].max(axis=0))
            if not both.all():
                notes["outcomes_tstr_auroc"] = (
                    f"{int((~both).sum())} outcome(s) hold one class in the held-out records and are left out"
                )
            cols = cols[both]
        if cols.size == 0:
            raise MetricNotApplicable(
                f"no code has {self.min_count} or more positives and negatives in the training records "
                "and both classes in the held-out records"
            )
        truth = Y_test[:, cols]
        tkey = (real_train.fingerprint, real_test.fingerprint, *params, cols.tobytes())
        if tkey not in _TRTR_CACHE:
            p_real = self._predict(F_real, Y_real[:, cols], cols, F_test)
            _TRTR_CACHE[tkey] = (cols, np.array([roc_auc_score(truth[:, k], p_real[:, k]) for k in range(cols.size)]))
        auc_r = _TRTR_CACHE[tkey][1]
        p_syn = self._predict(F_syn, Y_syn[:, cols], cols, F_test)
        auc_s = np.array([roc_auc_score(truth[:, k], p_syn[:, k]) for k in range(cols.size)])
        return Scores({
            "outcomes_tstr_auroc": float(auc_s.mean()),
            "outcomes_trtr_auroc": float(auc_r.mean()),
            "outcomes_tstr_auroc_gap": float(auc_r.mean() - auc_s.mean()),
        }, notes)
