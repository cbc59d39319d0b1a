"""Fidelity from column statistics: per-code prevalences, correlations, co-occurrences and the
number of codes per record. Each is computed in closed form from the whole real training and
synthetic matrices (no subsampling), in one pass of matrix products.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics._stats import correlation, mean_cov
from metrics.base import Metric, Score, Scores, SyntheticData, check_columns, presence


def prevalence(X: np.ndarray) -> np.ndarray:
    """Per-column fraction of records holding the code (count data: a count above zero)."""
    return (np.asarray(X) > 0).mean(axis=0)


class DimensionWiseProbability(Metric):
    """Per-code prevalence on real training records against synthetic records (Choi et al. 2017).

    Summarised by Pearson r over codes and, beside it, Spearman's rank correlation: EHR codes are
    mostly rare, so Pearson r is carried by the few common codes (a Pearson of 0.99 can hide a
    Spearman of 0.8, the rare codes' prevalences in the wrong order); then the average absolute
    difference of prevalences (APD, Yan et al. 2022), its root mean square, and the number of codes present in the real data that
    the generator never produced: a direct view of mode collapse. The report draws the scatter
    plot (``bench report``: ``dimwise_<dataset>.png``).
    """

    name = "dimwise_probability"
    category = "fidelity"
    description = "per-code prevalence, real training vs synthetic"
    scores = (
        Score("dwp_pearson_r", "maximize", -1.0, 1.0, 1.0, "Pearson r of per-code prevalences"),
        Score("dwp_spearman_r", "maximize", -1.0, 1.0, 1.0,
              "Spearman rank correlation of per-code prevalences (not dominated by the few common codes)"),
        Score("dwp_apd", "minimize", 0.0, 1.0, 0.0, "mean absolute prevalence difference"),
        Score("dwp_rmse", "minimize", 0.0, 1.0, 0.0, "root mean squared prevalence difference"),
        Score(
            "dwp_never_generated", "minimize", 0.0, np.inf, 0.0,
            "codes present in real training data that no synthetic record holds",
        ),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        p_real = prevalence(real_train.X)
        p_syn = prevalence(synthetic.X)
        if np.ptp(p_real) == 0:
            raise MetricNotApplicable("every real column has the same prevalence: r is undefined")
        # a constant synthetic profile carries no information about the real one
        r = 0.0 if np.ptp(p_syn) == 0 else float(np.corrcoef(p_real, p_syn)[0, 1])
        rho = 0.0 if np.ptp(p_syn) == 0 else float(spearmanr(p_real, p_syn).statistic)
        diff = p_real - p_syn
        return {
            "dwp_pearson_r": r,
            "dwp_spearman_r": rho,
            "dwp_apd": float(np.abs(diff).mean()),
            "dwp_rmse": float(np.sqrt((diff**2).mean())),
            "dwp_never_generated": float(((p_real > 0) & (p_syn == 0)).sum()),
        }


class ColumnCorrelation(Metric):
    """Distance between the real and synthetic Pearson correlation matrices (Yan et al. 2022).

    Columns constant in the real training data have no correlation to reproduce and are left
    out; a column the generator made constant gets correlation 0 with every other column, so
    the distance charges it for every association it lost. ``colcorr_dist`` is Yan et al.'s
    Frobenius norm of the difference divided by d^2 (d = columns compared); ``colcorr_mad``, the
    mean absolute difference over column pairs, reads on the scale of a correlation.
    """

    name = "column_correlation"
    category = "fidelity"
    description = "distance between real and synthetic column correlation matrices"
    scores = (
        Score("colcorr_dist", "minimize", 0.0, 2.0, 0.0, "Frobenius norm of the correlation difference / d^2"),
        Score("colcorr_mad", "minimize", 0.0, 2.0, 0.0, "mean absolute correlation difference over column pairs"),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        if synthetic.n_records < 2:
            raise MetricNotApplicable("correlations need at least two synthetic records")
        c_real, const_real = correlation(real_train.X)
        c_syn, _ = correlation(synthetic.X)
        keep = ~const_real
        d = int(keep.sum())
        if d < 2:
            raise MetricNotApplicable(
                f"{d} non-constant column(s) in the real training data: no correlation to compare"
            )
        diff = c_real[np.ix_(keep, keep)] - c_syn[np.ix_(keep, keep)]
        iu = np.triu_indices(d, 1)
        return {
            "colcorr_dist": float(np.linalg.norm(diff) / d**2),
            "colcorr_mad": float(np.abs(diff[iu]).mean()),
        }


def _pair_cells(mean: np.ndarray, cov: np.ndarray, rows: slice) -> tuple[np.ndarray, ...]:
    """The four cells P(1,1), P(1,0), P(0,1), P(0,0) of the 2x2 frequency tables of the column
    pairs (i, j) for the columns i in ``rows`` and every j, from the column means and covariances
    of a 0/1 matrix (so from one Gram product)."""
    p11 = cov[rows] + np.outer(mean[rows], mean)
    p10 = mean[rows, None] - p11
    p01 = mean[None, :] - p11
    p00 = 1.0 - mean[rows, None] - mean[None, :] + p11
    return p11, p10, p01, p00


def pair_fidelity_matrix(real: np.ndarray, synthetic: np.ndarray, block: int = 256) -> np.ndarray:
    """1 - total variation distance between the real and synthetic 2x2 tables of each column pair.

    For two binary columns this is SDMetrics' ContingencySimilarity, the score Column Pair Trends
    averages over pairs of discrete columns; here all d^2 pairs come from two Gram products,
    ``block`` rows of the result at a time so that temporaries stay small at large d.
    """
    m_r, c_r = mean_cov(real)
    m_s, c_s = mean_cov(synthetic)
    d = m_r.size
    out = np.empty((d, d))
    for s in range(0, d, block):
        rows = slice(s, min(d, s + block))
        tvd = np.zeros((rows.stop - rows.start, d))
        for a, b in zip(_pair_cells(m_r, c_r, rows), _pair_cells(m_s, c_s, rows), strict=True):
            tvd += np.abs(a - b)
        out[rows] = 1.0 - 0.5 * tvd
    return out


class ColumnPairFidelity(Metric):
    """Pairwise co-occurrence fidelity of binary codes: the binary form of SDMetrics' Column Pair
    Trends (ContingencySimilarity on every pair of columns).

    For each pair of codes the real and synthetic 2x2 tables of (absent, present) combinations
    are compared by total variation distance; the score is 1 - TVD averaged over pairs. Counts are
    binarised (presence). ``pair_fidelity`` averages all pairs (SDMetrics' ColumnPairTrends
    property); ``pair_fidelity_assoc`` only the pairs whose real Cramer's V (|phi| for two binary
    columns) exceeds 0.3, the subset SDMetrics' QualityReport averages by default, so the score
    is not drowned by the many pairs of rare, unrelated codes.
    """

    name = "pair_fidelity"
    category = "fidelity"
    description = "binary co-occurrence fidelity (SDMetrics Column Pair Trends, binary form)"
    association_threshold = 0.3
    scores = (
        Score("pair_fidelity", "maximize", 0.0, 1.0, 1.0, "1 - TVD of the 2x2 co-occurrence tables, mean over pairs"),
        Score(
            "pair_fidelity_assoc", "maximize", 0.0, 1.0, 1.0,
            "the same, over pairs with real Cramer's V > 0.3 (SDMetrics QualityReport's subset)",
        ),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        notes: dict[str, str] = {}
        check_columns(real_train, synthetic)
        d = real_train.n_codes
        if d < 2:
            raise MetricNotApplicable("column pairs need at least two columns")
        real = presence(real_train.X)
        score = pair_fidelity_matrix(real, presence(synthetic.X))
        iu = np.triu_indices(d, 1)
        out = {"pair_fidelity": float(score[iu].mean())}
        corr, constant = correlation(real)
        assoc = (np.abs(corr) > self.association_threshold) & ~constant[:, None] & ~constant[None, :]
        chosen = assoc[iu]
        if chosen.any():
            out["pair_fidelity_assoc"] = float(score[iu][chosen].mean())
        else:
            notes["pair_fidelity_assoc"] = (
                f"no column pair has a real Cramer's V above {self.association_threshold}"
            )
        return Scores(out, notes)


class ConceptAbundance(Metric):
    """Medical concept abundance (Yan et al. 2022): how many distinct codes a record holds.

    Compares the histograms of codes-per-record of the real training and synthetic records: a
    generator can match every prevalence yet spread codes evenly over records, or make records
    too sparse or too full. Reported as total variation distance between the normalised
    histograms (half their L1 distance) and as the Wasserstein-1 distance in codes.
    """

    name = "concept_abundance"
    category = "fidelity"
    description = "distance between codes-per-record histograms"
    scores = (
        Score("abundance_tvd", "minimize", 0.0, 1.0, 0.0, "TVD between codes-per-record histograms"),
        Score("abundance_w1", "minimize", 0.0, np.inf, 0.0, "Wasserstein-1 distance of codes per record (codes)"),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        from scipy.stats import wasserstein_distance

        check_columns(real_train, synthetic)
        n_real = (np.asarray(real_train.X) > 0).sum(axis=1)
        n_syn = (np.asarray(synthetic.X) > 0).sum(axis=1)
        size = int(max(n_real.max(), n_syn.max())) + 1
        h_real = np.bincount(n_real, minlength=size) / n_real.size
        h_syn = np.bincount(n_syn, minlength=size) / n_syn.size
        return {
            "abundance_tvd": float(0.5 * np.abs(h_real - h_syn).sum()),
            "abundance_w1": float(wasserstein_distance(n_real, n_syn)),
        }
