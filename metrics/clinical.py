"""Clinical validity, effect estimates: would a study run on the synthetic records report the
effects the real records show?

Marginals can match while associations are distorted (the 2025-26 critique "Synthetic but not
realistic"). This metric estimates, on the real training records and on the synthetic records
alike, three families of effects and compares each pair of estimates:

- ``or``: the log odds ratio of the label on each code (2x2 table; Woolf's standard error; the
  Haldane correction adds 0.5 to all four cells of a table with an empty cell);
- ``coef``: the coefficients of one multivariable logistic regression of the label on the model's
  codes (maximum likelihood by Newton-Raphson; standard errors from the observed information,
  which for the logistic link is X'WX);
- ``pair``: the log odds ratio between two codes, for every pair of the model's codes
  (dependencies between codes; Woolf and Haldane as above).

Which codes (chosen on the real training records only, the same for the synthetic records):
a code is *supported* when each cell of its label x code 2x2 table holds at least ``min_cell``
records (10). The supported codes are ordered by the strength of their univariate association,
|log OR| / SE, ties by column order: the ``or`` family takes the first ``max_codes`` (50), the
model takes the first ``n_model`` (15) that are not collinear with the ones already taken (R^2
of the code on them and an intercept below 0.8, i.e. a variance inflation factor below 5;
without the rule, codes that always co-occur make the real coefficients unidentified). A pair
enters the ``pair`` family when each cell of its 2x2 table holds ``min_cell`` real records.
Demographic columns (``sex:``, ``age:``) are never codes here. Choosing codes by association
rather than by prevalence keeps the estimates a study would report: the most prevalent codes of
a dataset are often unrelated to its outcome, where agreement is trivial.

Per family: the fraction of estimates whose 95% intervals overlap; sign agreement over the
estimates whose real 95% interval excludes 0 (the sign of a null effect is noise); the mean
standardized difference |b_syn - b_real| / sqrt(se_syn^2 + se_real^2). Two headline scores
average the families. A multivariable coefficient is not estimable on synthetic records where a
cell of its label x code table is empty (the likelihood has no maximum): it counts as a
non-overlap and a sign disagreement, is left out of the standardized difference, and
``effect_coef_estimable`` reports the fraction that were estimable. The regression carries a
ridge of 1e-4 on the summed log-likelihood (a N(0, 10^4) prior on each coefficient, none on the
intercept): with information in the tens or more per coefficient it moves an estimable
coefficient by well under 1e-3 of its standard error, and it keeps Newton's iteration finite
when a synthetic code separates the label.
"""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset, is_demographic
from bench.core.errors import MetricNotApplicable
from metrics.base import Metric, Score, Scores, SyntheticData, check_columns

Z95 = 1.959963984540054
RIDGE = 1e-4
VIF_R2 = 0.8
FAMILIES = ("or", "coef", "pair")


def cell_counts(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(k, 4) counts a, b, c, d of each column's 2x2 table with ``y``: (x=1,y=1), (x=1,y=0),
    (x=0,y=1), (x=0,y=0). ``X`` and ``y`` are 0/1 (bool or numbers); only row subsets of ``X``
    are copied, never a float64 copy of the whole matrix."""
    n = X.shape[0]
    pos = np.asarray(y).astype(bool)
    a = np.asarray(X[pos].sum(axis=0), dtype=np.float64)
    n1 = np.asarray(X.sum(axis=0), dtype=np.float64)
    c = float(pos.sum()) - a
    return np.column_stack([a, n1 - a, c, n - n1 - c])


def log_odds_ratio(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log odds ratio ad/bc and Woolf's standard error per row of (a, b, c, d); a table with an
    empty cell gets 0.5 added to each of its cells (Haldane)."""
    t = np.asarray(cells, dtype=np.float64)
    t = t + 0.5 * (t == 0).any(axis=1, keepdims=True)
    est = np.log(t[:, 0]) + np.log(t[:, 3]) - np.log(t[:, 1]) - np.log(t[:, 2])
    return est, np.sqrt((1.0 / t).sum(axis=1))


def fit_logistic(X: np.ndarray, y: np.ndarray, ridge: float = RIDGE, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, bool]:
    """Coefficients (intercept first), their standard errors and whether Newton converged.

    Maximises sum(y * eta - log(1 + exp(eta))) - ridge/2 * |beta|^2 (intercept not penalised) by
    Newton-Raphson with step halving; the covariance is the inverse of the penalised observed
    information A'WA + ridge*I at the optimum.
    """
    n, k = X.shape
    A = np.hstack([np.ones((n, 1)), np.asarray(X, dtype=np.float64)])
    y = np.asarray(y, dtype=np.float64)
    P = np.full(k + 1, ridge)
    P[0] = 0.0
    beta = np.zeros(k + 1)
    p0 = min(max(y.mean(), 1e-6), 1 - 1e-6)
    beta[0] = np.log(p0 / (1 - p0))

    def objective(b: np.ndarray) -> float:
        eta = A @ b
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)) - 0.5 * np.sum(P * b * b))

    current = objective(beta)
    converged = False
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(A @ beta)))
        grad = A.T @ (y - p) - P * beta
        H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(P)
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while True:
            candidate = beta + t * step
            value = objective(candidate)
            if value >= current - 1e-10 or t < 1e-10:
                break
            t /= 2
        beta, current = candidate, value
        if np.max(np.abs(t * step)) < 1e-8:
            converged = True
            break
    p = 1.0 / (1.0 + np.exp(-(A @ beta)))
    H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(P)
    try:
        cov = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return beta, np.full(k + 1, np.inf), False
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return beta, se, converged and bool(np.isfinite(beta).all() and np.isfinite(se).all())


def agreement(b_real: np.ndarray, se_real: np.ndarray, b_syn: np.ndarray, se_syn: np.ndarray,
              estimable: np.ndarray | None = None) -> dict[str, float]:
    """CI overlap fraction, sign agreement (over real-significant estimates) and the mean
    standardized difference; non-estimable synthetic estimates count as disagreements and are
    left out of the standardized difference. A key is absent when it is undefined."""
    ok = np.ones(b_real.size, dtype=bool) if estimable is None else np.asarray(estimable, dtype=bool)
    overlap = ok & (b_syn - Z95 * se_syn <= b_real + Z95 * se_real) & (b_real - Z95 * se_real <= b_syn + Z95 * se_syn)
    out: dict[str, float] = {"ci_overlap": float(overlap.mean())}
    significant = np.abs(b_real) > Z95 * se_real
    if significant.any():
        same = ok & (np.sign(b_syn) == np.sign(b_real))
        out["sign_agreement"] = float(same[significant].mean())
    if ok.any():
        d = np.abs(b_syn[ok] - b_real[ok]) / np.sqrt(se_syn[ok] ** 2 + se_real[ok] ** 2)
        out["std_diff"] = float(d.mean())
    return out


def choose_codes(P: np.ndarray, y: np.ndarray, codes: np.ndarray, min_cell: int, max_codes: int,
                 n_model: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes of the ``or`` family, codes of the model), column indices into ``P``; see the module
    docstring for the rule."""
    cells = cell_counts(P[:, codes], y)
    supported = codes[cells.min(axis=1) >= min_cell]
    if supported.size == 0:
        return supported, supported
    est, se = log_odds_ratio(cell_counts(P[:, supported], y))
    order = supported[np.lexsort((supported, -np.abs(est) / se))]
    model: list[int] = []
    for j in order:
        if len(model) == n_model:
            break
        x = P[:, j].astype(np.float64)
        A = np.column_stack([np.ones_like(x), P[:, model]]).astype(np.float64) if model else np.ones((x.size, 1))
        fitted = A @ np.linalg.lstsq(A, x, rcond=None)[0]
        ss = float(((x - x.mean()) ** 2).sum())
        if ss > 0 and 1.0 - float(((x - fitted) ** 2).sum()) / ss < VIF_R2:
            model.append(int(j))
    return order[:max_codes], np.array(model, dtype=np.int64)


def _pairs(P: np.ndarray, model: np.ndarray, min_cell: int) -> list[tuple[int, int]]:
    out = []
    for u in range(model.size):
        for v in range(u + 1, model.size):
            cells = cell_counts(P[:, [model[u]]], P[:, model[v]])[0]
            if cells.min() >= min_cell:
                out.append((int(model[u]), int(model[v])))
    return out


def _pair_estimates(P: np.ndarray, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    cells = np.array([cell_counts(P[:, [i]], P[:, j])[0] for i, j in pairs])
    return log_odds_ratio(cells)


class EffectEstimates(Metric):
    """Odds ratios, multivariable coefficients and code-code odds ratios, real vs synthetic."""

    name = "effect_estimates"
    category = "clinical"
    needs_label = True
    description = "agreement of odds ratios and logistic-regression coefficients (95% CI overlap, sign, standardized difference)"
    scores = tuple(
        s
        for fam, what in (("or", "log odds ratios of the label on each supported code"),
                          ("coef", "coefficients of the multivariable logistic regression of the label"),
                          ("pair", "log odds ratios between pairs of the model's codes"))
        for s in (
            Score(f"effect_{fam}_ci_overlap", "maximize", 0.0, 1.0, 1.0,
                  f"fraction of {what} whose real and synthetic 95% intervals overlap"),
            Score(f"effect_{fam}_sign_agreement", "maximize", 0.0, 1.0, 1.0,
                  f"fraction of {what} significant on real data whose synthetic estimate has the same sign"),
            Score(f"effect_{fam}_std_diff", "minimize", 0.0, np.inf, 0.0,
                  f"mean |b_syn - b_real| / sqrt(se_syn^2 + se_real^2) over the {what}"),
        )
    ) + (
        Score("effect_coef_estimable", "maximize", 0.0, 1.0, 1.0,
              "fraction of the multivariable coefficients estimable on the synthetic records (no empty cell)"),
        Score("effect_ci_overlap", "maximize", 0.0, 1.0, 1.0,
              "mean over the three families of the fraction of 95% intervals that overlap (the headline)"),
        Score("effect_std_diff", "minimize", 0.0, np.inf, 0.0,
              "mean over the three families of the mean standardized difference"),
    )

    def __init__(self, random_state: int | None = 0, min_cell: int = 10, max_codes: int = 50,
                 n_model: int = 15) -> None:
        super().__init__(random_state)
        self.min_cell = min_cell
        self.max_codes = max_codes
        self.n_model = n_model

    def compute(self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData) -> dict[str, float]:
        notes: dict[str, str] = {}
        if real_train.y is None:
            raise MetricNotApplicable("the real data has no label: effects of codes on the label are undefined")
        if synthetic.y is None:
            raise MetricNotApplicable("the synthetic records carry no label")
        check_columns(real_train, synthetic)
        y_real = np.asarray(real_train.y, dtype=np.float64)
        y_syn = np.asarray(synthetic.y, dtype=np.float64)
        codes = np.array([j for j, c in enumerate(real_train.columns) if not is_demographic(c)], dtype=np.int64)
        P_real = np.asarray(real_train.X) > 0  # bool: 1 byte a cell; the model's columns become float64
        P_syn = np.asarray(synthetic.X) > 0
        uni, model = choose_codes(P_real, y_real, codes, self.min_cell, self.max_codes, self.n_model)
        if uni.size == 0:
            raise MetricNotApplicable(
                f"no code has {self.min_cell} real training records in every cell of its 2x2 table with the label"
            )
        results: dict[str, dict[str, float]] = {}
        b_r, s_r = log_odds_ratio(cell_counts(P_real[:, uni], y_real))
        b_s, s_s = log_odds_ratio(cell_counts(P_syn[:, uni], y_syn))
        results["or"] = agreement(b_r, s_r, b_s, s_s)

        b_r, s_r, ok_r = fit_logistic(P_real[:, model], y_real)
        if not ok_r:  # the chosen codes are supported and not collinear: this should not happen
            raise MetricNotApplicable("the multivariable regression did not converge on the real records")
        b_s, s_s, ok_s = fit_logistic(P_syn[:, model], y_syn)
        estimable = cell_counts(P_syn[:, model], y_syn).min(axis=1) > 0
        if not ok_s:
            estimable[:] = False
        results["coef"] = agreement(b_r[1:], s_r[1:], b_s[1:], s_s[1:], estimable)

        pairs = _pairs(P_real, model, self.min_cell)
        if pairs:
            b_r, s_r = _pair_estimates(P_real, pairs)
            b_s, s_s = _pair_estimates(P_syn, pairs)
            results["pair"] = agreement(b_r, s_r, b_s, s_s)
        else:
            notes.update({f"effect_pair_{k}": "no pair of the model's codes has enough support"
                               for k in ("ci_overlap", "sign_agreement", "std_diff")})

        out: dict[str, float] = {"effect_coef_estimable": float(estimable.mean())}
        for fam, res in results.items():
            for key in ("ci_overlap", "sign_agreement", "std_diff"):
                if key in res:
                    out[f"effect_{fam}_{key}"] = res[key]
                elif f"effect_{fam}_{key}" not in notes:
                    notes[f"effect_{fam}_{key}"] = (
                        "no estimate is significant on the real data" if key == "sign_agreement"
                        else "no coefficient is estimable on the synthetic records"
                    )
        out["effect_ci_overlap"] = float(np.mean([r["ci_overlap"] for r in results.values()]))
        if all("std_diff" in r for r in results.values()):
            out["effect_std_diff"] = float(np.mean([r["std_diff"] for r in results.values()]))
        else:  # averaging the remaining families would flatter a generator that breaks the model
            notes["effect_std_diff"] = "no multivariable coefficient is estimable on the synthetic records"
        return Scores(out, notes)
