"""Membership inference that uses a reference population: DOMIAS and GAN-leaks.

An attacker who holds real records of the same population as the training patients (a
*reference* sample) can tell what is typical of everybody from what is typical of the training
patients in particular. DOMIAS (van Breugel, Sun, Qian & van der Schaar, AISTATS 2023) scores a
candidate record x by the density ratio p_syn(x) / p_ref(x): a generator that overfits raises the
synthetic density at its training records above the population's. GAN-leaks (Chen, Yu, Zhang &
Fritz, CCS 2020) scores x by how well the synthetic data reconstructs it: the distance to the
nearest synthetic record (their full black-box attack), and, calibrated, that distance minus the
distance to the nearest reference record (their calibration subtracts a reference model's
reconstruction error; the reference sample itself is that model here).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics._distance import log_kernel_sums, nearest_distances
from metrics.base import Metric, Score, SyntheticData, check_columns, features, presence, take_rows

# bandwidth grid of the binary kernel, exp(-beta * Hamming distance): 41 steps of x1.16
BETAS = np.geomspace(0.05, 20.0, 41)
ATTACKS = ("domias_auroc", "ganleaks_auroc", "ganleaks_cal_auroc")


def choose_beta(reference: np.ndarray, betas: np.ndarray = BETAS) -> float:
    """The kernel's ``beta`` that maximises the leave-one-out log-likelihood of ``reference``.

    The kernel is Aitchison & Aitken's (1976) for binary vectors: K(x, r) = prod_j lambda^[x_j =
    r_j] (1 - lambda)^[x_j != r_j], i.e. exp(-beta * Hamming(x, r)) / (1 + exp(-beta))^d with
    lambda = 1 / (1 + exp(-beta)). Leave-one-out likelihood is the classic rule for its
    smoothing parameter; it needs no label and no training record.
    """
    n, d = reference.shape
    sums = log_kernel_sums(reference, reference, betas, exclude_self=True)
    loglik = sums.mean(axis=0) - np.log(n - 1) - d * np.log1p(np.exp(-betas))
    return float(betas[int(np.argmax(loglik))])


class ReferenceMembershipInference(Metric):
    """DOMIAS and GAN-leaks membership inference, and the strongest of them (see module docstring).

    **Who is who.** ``compute`` receives the training records and the held-out records. The
    held-out records are split at random into two halves; in each of two folds one half is the
    *non-member candidates* and the other the attacker's *reference* sample, then the roles swap,
    so that no record is ever both scored and used as reference. The *members* are training
    records (at most ``max_members``, drawn with the metric's seed), split between the folds in
    the proportions of the halves. Each attack's AUROC (members vs non-members) is computed per
    fold and averaged over the two folds. Members outnumber non-members: AUROC does not depend on
    the balance, and every member attacked narrows it (2,000 members instead of 270 cut its
    standard error on eunomia by about a quarter).

    **DOMIAS.** p_syn and p_ref are kernel density estimates in the space of whole records with
    the binary kernel of :func:`choose_beta`, whose ``beta`` is chosen per fold by leave-one-out
    likelihood on the reference half and used for both densities, so the normalising constants
    cancel in the ratio. Departure from the paper, which fits a normalising flow or a Gaussian
    KDE on a low-dimensional embedding: on binary records a Gaussian KDE on a 5-component PCA of
    the reference lost what membership lives in (measured on eunomia, copies of the training
    records: AUROC 0.55 through PCA, 0.79 with the full-record kernel). Count data: the densities
    are of code presence.

    **GAN-leaks.** Squared Euclidean distances on the records (Hamming distance on binary ones;
    log1p counts), as in the other distance metrics.

    **Scores.** Each attack's AUROC (0.5: the synthetic data says nothing about membership;
    below 0.5 earns no credit). ``mia_strongest`` = max over the three attacks of (AUROC - 0.5),
    clipped at 0: the privacy a generator offers is limited by the best attack against it. Being
    a maximum of three noisy AUROCs, it sits slightly above 0 for a generator that leaks nothing
    (measured in docs/metrics.md).
    """

    name = "domias"
    category = "privacy"
    description = "membership inference with a reference population: DOMIAS, GAN-leaks and the strongest"
    scores = (
        Score("domias_auroc", "minimize", 0.0, 1.0, 0.5, "DOMIAS density-ratio attack AUROC, members vs held-out"),
        Score("ganleaks_auroc", "minimize", 0.0, 1.0, 0.5,
              "GAN-leaks full black-box attack AUROC (distance to the nearest synthetic record)"),
        Score("ganleaks_cal_auroc", "minimize", 0.0, 1.0, 0.5,
              "GAN-leaks attack calibrated by the distance to the nearest reference record, AUROC"),
        Score("mia_strongest", "minimize", 0.0, 0.5, 0.0,
              "the strongest of the three attacks: max AUROC - 0.5, clipped at 0"),
    )

    def __init__(
        self, random_state: int | None = 0, max_members: int = 2000, max_candidates: int = 1000,
        max_synthetic: int = 5000,
    ) -> None:
        super().__init__(random_state)
        self.max_members = max_members
        self.max_candidates = max_candidates
        self.max_synthetic = max_synthetic

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        if real_test.n_records < 4 or real_train.n_records < 2:
            raise MetricNotApplicable("the attack needs at least 4 held-out and 2 training records")
        rng = self.rng()
        kind = real_train.kind
        order = rng.permutation(real_test.n_records)
        half = real_test.n_records // 2
        halves = [np.sort(order[:half][: self.max_candidates]), np.sort(order[half:][: self.max_candidates])]
        members = take_rows(real_train, self.max_members, rng)
        members = members[rng.permutation(members.shape[0])]
        cut = int(round(members.shape[0] * halves[0].size / (halves[0].size + halves[1].size)))
        groups = [members[:cut], members[cut:]]
        syn = take_rows(synthetic, self.max_synthetic, rng)
        test = real_test.X
        per_fold = []
        for f in (0, 1):
            cand, ref = np.asarray(test[halves[f]]), np.asarray(test[halves[1 - f]])
            per_fold.append(self._fold(groups[f], cand, ref, syn, kind))
        out = {a: float(np.mean([fold[a] for fold in per_fold])) for a in ATTACKS}
        out["mia_strongest"] = max(0.0, max(out[a] for a in ATTACKS) - 0.5)
        return out

    @staticmethod
    def _fold(members: np.ndarray, cand: np.ndarray, ref: np.ndarray, syn: np.ndarray, kind: str) -> dict[str, float]:
        """Each attack's AUROC in one fold: ``members`` (label 1) against ``cand`` (label 0)."""
        truth = np.r_[np.ones(members.shape[0]), np.zeros(cand.shape[0])]
        queries = np.r_[members, cand]
        q_bin, syn_bin, ref_bin = presence(queries), presence(syn), presence(ref)
        beta = choose_beta(ref_bin)
        log_p_syn = log_kernel_sums(q_bin, syn_bin, beta)[:, 0] - np.log(syn.shape[0])
        log_p_ref = log_kernel_sums(q_bin, ref_bin, beta)[:, 0] - np.log(ref.shape[0])
        q, s, r = features(queries, kind), features(syn, kind), features(ref, kind)
        d_syn = nearest_distances(q, s, squared=True)[:, 0].astype(np.float64)
        d_ref = nearest_distances(q, r, squared=True)[:, 0].astype(np.float64)
        return {
            "domias_auroc": float(roc_auc_score(truth, log_p_syn - log_p_ref)),
            "ganleaks_auroc": float(roc_auc_score(truth, -d_syn)),
            "ganleaks_cal_auroc": float(roc_auc_score(truth, d_ref - d_syn)),
        }
