"""Privacy: what do the synthetic records give away about the patients they were trained on?

Every score here is read against a baseline of real held-out patients: what an attacker learns
from records of people who were never in the training data is what anyone learns about a
population; only what the synthetic data reveals beyond that is leakage. Distances are Euclidean
on the record vectors (binary: square root of the Hamming distance; counts: log1p counts).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics._distance import cross_nearest, nearest_distances, nearest_neighbours, nearest_with_ties
from metrics.base import Metric, Score, Scores, SyntheticData, check_columns, features, presence, take_rows


def _rows(data: EHRDataset | SyntheticData, cap: int | None, rng: np.random.Generator, kind: str) -> np.ndarray:
    return features(take_rows(data, cap, rng), kind)


def _beats(a: np.ndarray, b: np.ndarray) -> float:
    """Share of positions where ``a > b``, ties counting one half (distances tie often on binary
    records; a strict comparison would pull every share below its chance level of 0.5)."""
    return float(np.mean((a > b) + 0.5 * (a == b)))


# ------------------------------------------------------------------------- membership inference
class DistanceMembershipInference(Metric):
    """Membership inference from the distance to the closest synthetic record.

    The attacker holds a real record and calls it a training member when a synthetic record lies
    close to it. Members are training records, non-members the held-out records (equal numbers,
    at most ``max_records`` each, drawn with the metric's seed); the attacker searches all
    synthetic records. AUROC 0.5 means the synthetic data tells the attacker nothing; 1.0 means
    it gives every member away, as copying the training rows does. The best F1 over thresholds
    is reported beside it (2/3 is the F1 of calling everyone a member).
    """

    name = "mia_dcr"
    category = "privacy"
    description = "membership inference by distance to the closest synthetic record"
    scores = (
        Score("mia_dcr_auroc", "minimize", 0.0, 1.0, 0.5, "attack AUROC, members vs held-out"),
        Score("mia_dcr_best_f1", "minimize", 0.0, 1.0, 2.0 / 3.0,
              "attack F1 at its best threshold (2/3: calling everyone a member)"),
    )

    def __init__(self, random_state: int | None = 0, max_records: int = 1000) -> None:
        super().__init__(random_state)
        self.max_records = max_records

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        rng = self.rng()
        kind = real_train.kind
        m = min(real_train.n_records, real_test.n_records, self.max_records)
        members = _rows(real_train, m, rng, kind)
        outsiders = _rows(real_test, m, rng, kind)
        syn = features(synthetic.X, kind)
        d_in = nearest_distances(members, syn)[:, 0]
        d_out = nearest_distances(outsiders, syn)[:, 0]
        truth = np.r_[np.ones(m), np.zeros(m)]
        score = -np.r_[d_in, d_out]  # closer -> more likely a member
        precision, recall, _ = precision_recall_curve(truth, score)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
        return {"mia_dcr_auroc": float(roc_auc_score(truth, score)), "mia_dcr_best_f1": float(f1.max())}


# -------------------------------------------------------------------------- attribute inference
class AttributeInference(Metric):
    """Attribute inference (Choi et al. 2017; Yan et al. 2022): the attacker knows some of a
    patient's codes and infers the others from the ``k`` synthetic records nearest on the known
    codes (a code is inferred present when at least half of those neighbours hold it).

    Scored by F1 over the unknown codes of training patients (``aia_f1``). The baseline is the
    same attack, on the same synthetic records, against real held-out patients
    (``aia_f1_holdout``): what the synthetic data reveals about anyone from the population. The
    gap ``aia_f1_gain`` is what it reveals about the training patients in particular; 0 means
    nothing beyond population knowledge, and a copy of the training data gives the largest gap.
    Known codes: a ``known_fraction`` of all codes drawn with ``random_state``. Victims: at most
    ``max_victims`` training and as many held-out records. The attacker searches at most
    ``max_database`` synthetic records.
    """

    name = "attribute_inference"
    category = "privacy"
    description = "infer unknown codes of training patients from their nearest synthetic records"
    scores = (
        Score("aia_f1", "minimize", 0.0, 1.0, "aia_f1_holdout", "F1 of training patients' unknown codes inferred from synthetic records"),
        Score("aia_f1_holdout", "minimize", 0.0, 1.0, None, "F1 of the same attack against real held-out patients",
              reference=True),
        Score("aia_f1_gain", "minimize", -1.0, 1.0, 0.0, "aia_f1 minus the held-out baseline"),
    )

    def __init__(
        self,
        random_state: int | None = 0,
        known_fraction: float = 0.5,
        k: int = 1,
        max_victims: int = 1000,
        max_database: int = 50000,
    ) -> None:
        super().__init__(random_state)
        if not 0 < known_fraction < 1:
            raise ValueError(f"known_fraction must be in (0, 1), got {known_fraction}")
        self.known_fraction = known_fraction
        self.k = k
        self.max_victims = max_victims
        self.max_database = max_database

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        rng = self.rng()
        d = real_train.n_codes
        n_known = int(round(self.known_fraction * d))
        if not 0 < n_known < d:
            raise MetricNotApplicable(f"{d} codes cannot be split into known and unknown ones")
        if synthetic.n_records < self.k:
            raise MetricNotApplicable(f"the attack needs at least k={self.k} synthetic records")
        perm = rng.permutation(d)
        known, unknown = np.sort(perm[:n_known]), np.sort(perm[n_known:])
        m = min(real_train.n_records, real_test.n_records, self.max_victims)
        members = take_rows(real_train, m, rng)
        outsiders = take_rows(real_test, m, rng)
        db = take_rows(synthetic, self.max_database, rng)
        kind = real_train.kind
        db_known = features(db[:, known], kind)
        db_unknown = presence(db[:, unknown]) > 0
        f1_members = self._attack(members, db_known, db_unknown, known, unknown, kind)
        f1_outsiders = self._attack(outsiders, db_known, db_unknown, known, unknown, kind)
        if f1_members is None or f1_outsiders is None:
            raise MetricNotApplicable("the victims hold none of the unknown codes and none is inferred: F1 is undefined")
        return {"aia_f1": f1_members, "aia_f1_holdout": f1_outsiders, "aia_f1_gain": f1_members - f1_outsiders}

    def _attack(
        self, victims: np.ndarray, db_known: np.ndarray, db_unknown: np.ndarray, known: np.ndarray,
        unknown: np.ndarray, kind: str,
    ) -> float | None:
        """Micro-averaged F1 of the inferred unknown codes over all victims (None if undefined)."""
        _, idx = nearest_neighbours(features(victims[:, known], kind), db_known, self.k)
        truth = presence(victims[:, unknown]) > 0
        guess = db_unknown[idx].mean(axis=1) >= 0.5  # victims x unknown codes
        total = float(guess.sum() + truth.sum())
        if total == 0:
            return None
        return 2.0 * float((guess & truth).sum()) / total


# ----------------------------------------------------------------------------------------- DCR
class DistanceToClosestRecord(Metric):
    """Distance to closest record (DCR) against the holdout baseline.

    ``dcr_ratio`` = mean distance of synthetic records to their nearest training record / the same
    for real held-out records (1: as far as fresh patients, 0: copies); fresh patients show how
    close an unrelated record falls by chance. At most ``max_queries`` synthetic and held-out
    records each, searched against all training records.

    ``dcr_closer_prob`` is the train/holdout DCR share (after the holdout comparison of Platzer &
    Reutterer 2021): for each synthetic record, is its nearest real record, among the training
    and the held-out records pooled, a training record? A tie at the nearest distance is shared among the tied records.
    A generator whose output does not depend on which patients it trained on, however typical
    or odd its records, finds a training record nearest with probability exactly the training
    share t = n_train / (n_train + n_holdout): the pooled records are exchangeable. Only records
    placed near the training patients *in particular* move the share above t. The share s is
    reported on the odds scale of equal-sized sets, s(1 - t) / (s(1 - t) + (1 - s) t), what
    subsampling the training records to the holdout's size would give in expectation without
    discarding any: 0.5 for a generator that does not memorise, 1 for copies of training records,
    one-sided (below 0.5 is no credit). It replaces a comparison of synthetic with held-out DCRs
    (the AUROC of the two distance samples), which called every typical record a leak: typical
    records lie close to the 80% of the data that is training whoever made them, so DPGAN,
    trained with differential privacy, scored 0.777 on eunomia and medGAN 0.499.
    """

    name = "dcr"
    category = "privacy"
    description = "distance to the closest training record, synthetic vs real held-out"
    scores = (
        Score("dcr_ratio", "maximize", 0.0, np.inf, 1.0, "mean DCR of synthetic / mean DCR of held-out records"),
        Score("dcr_closer_prob", "minimize", 0.0, 1.0, 0.5,
              "train/holdout DCR share: P(a synthetic record's nearest real record is a training one), "
              "at equal set sizes"),
        Score("dcr_syn_mean", "maximize", 0.0, np.inf, "dcr_holdout_mean", "mean distance of synthetic records to the training data"),
        Score("dcr_holdout_mean", "maximize", 0.0, np.inf, None,
              "mean distance of held-out records to the training data", reference=True),
    )

    def __init__(self, random_state: int | None = 0, max_queries: int = 1000) -> None:
        super().__init__(random_state)
        self.max_queries = max_queries

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        notes: dict[str, str] = {}
        check_columns(real_train, synthetic)
        rng = self.rng()
        kind = real_train.kind
        train = features(real_train.X, kind)
        queries = _rows(synthetic, self.max_queries, rng, kind)
        nearest_train = nearest_with_ties(queries, train)  # one search serves the DCR and the share
        d_syn = np.sqrt(nearest_train[0])
        d_hold = nearest_distances(_rows(real_test, self.max_queries, rng, kind), train)[:, 0]
        out = {
            "dcr_syn_mean": float(d_syn.mean()),
            "dcr_holdout_mean": float(d_hold.mean()),
            "dcr_closer_prob": train_share(queries, train, features(real_test.X, kind), nearest_train),
        }
        if out["dcr_holdout_mean"] > 0:
            out["dcr_ratio"] = out["dcr_syn_mean"] / out["dcr_holdout_mean"]
        else:
            notes["dcr_ratio"] = "every held-out record sampled has an exact twin in the training data"
        return Scores(out, notes)


def train_share(
    queries: np.ndarray, train: np.ndarray, holdout: np.ndarray,
    nearest_train: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """The train/holdout DCR share of ``queries`` on the odds scale of equal-sized sets (see
    :class:`DistanceToClosestRecord`): 0.5 in expectation for queries that do not depend on which
    records are training ones, 1 when every query's nearest record is a training record.
    ``nearest_train``: :func:`nearest_with_ties` of the queries in ``train``, when already known."""
    d_tr, c_tr = nearest_train if nearest_train is not None else nearest_with_ties(queries, train)
    d_ho, c_ho = nearest_with_ties(queries, holdout)
    tied = c_tr / (c_tr + c_ho)
    s = float(np.where(d_tr < d_ho, 1.0, np.where(d_tr > d_ho, 0.0, tied)).mean())
    t = train.shape[0] / (train.shape[0] + holdout.shape[0])
    return s * (1 - t) / (s * (1 - t) + (1 - s) * t)


# ---------------------------------------------------------------------------------------- NNAA
def adversarial_accuracy(real: np.ndarray, fake: np.ndarray, d_ss: np.ndarray | None = None) -> float:
    """Nearest-neighbour adversarial accuracy (Yale et al. 2020) of two equal-size samples.

    AA = 1/2 [ P(d_RS > d_RR) + P(d_SR > d_SS) ]: how often a record's nearest neighbour in the
    other set is farther than its nearest neighbour in its own set (leave-one-out). 0.5 when
    the two sets are indistinguishable, near 1 when they are apart, near 0 when synthetic
    records sit on top of real ones (copies).
    """
    d_rs, d_sr = cross_nearest(real, fake)
    d_rr = nearest_distances(real, real, 1, exclude_self=True)[:, 0]
    if d_ss is None:  # the synthetic records' leave-one-out distances, when not computed already
        d_ss = nearest_distances(fake, fake, 1, exclude_self=True)[:, 0]
    return 0.5 * (_beats(d_rs, d_rr) + _beats(d_sr, d_ss))


class NearestNeighbourAdversarialAccuracy(Metric):
    """NNAA (Yale et al. 2020) of synthetic records against training records, and the privacy
    loss: AA against held-out records minus AA against training records.

    ``nnaa`` 0.5 is ideal; far above 0.5 the synthetic records are unrealistic, far below they
    copy the training data. A generator that memorises sits closer to its training records than to
    fresh ones, so the privacy loss ``nnaa_test - nnaa`` is positive; 0 means no memorisation.
    Both AAs use the same number m of records on every side (m = the smallest of the training,
    held-out and synthetic counts, at most ``max_records``; the larger sets are subsampled with
    the metric's seed) and the same synthetic sample, so the loss does not move with the sizes of
    the splits (unequal sizes alone shifted it by -0.01 to -0.02 on eunomia's 80/20 split).
    Ties between distances count one half (frequent on binary records; Yale et al. count them
    as not farther, which biases AA below 0.5 for two samples of one distribution).
    """

    name = "nnaa"
    category = "privacy"
    description = "nearest-neighbour adversarial accuracy and its privacy loss"
    scores = (
        Score("nnaa", "target", 0.0, 1.0, 0.5, "adversarial accuracy, training vs synthetic records"),
        Score("nnaa_test", "target", 0.0, 1.0, 0.5, "adversarial accuracy, held-out vs synthetic records"),
        Score("nnaa_privacy_loss", "minimize", -1.0, 1.0, 0.0, "nnaa_test minus nnaa"),
    )

    def __init__(self, random_state: int | None = 0, max_records: int = 4000) -> None:
        super().__init__(random_state)
        self.max_records = max_records

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        rng = self.rng()
        kind = real_train.kind
        # one sample size m for both AAs: nearest-neighbour distances shrink as a sample grows, so
        # AA computed on 2,155 training records against 539 held-out ones differs by sample size
        # alone; m records are drawn from each of training, held-out and synthetic records
        m = min(real_train.n_records, real_test.n_records, synthetic.n_records, self.max_records)
        if m < 2:
            raise MetricNotApplicable("NNAA needs at least two records on each side")
        syn = _rows(synthetic, m, rng, kind)
        d_ss = nearest_distances(syn, syn, 1, exclude_self=True)[:, 0]
        aa_train = adversarial_accuracy(_rows(real_train, m, rng, kind), syn, d_ss)
        aa_test = adversarial_accuracy(_rows(real_test, m, rng, kind), syn, d_ss)
        return {"nnaa": aa_train, "nnaa_test": aa_test, "nnaa_privacy_loss": aa_test - aa_train}


# ----------------------------------------------------------------------------------- exact copy
def row_ids(*arrays: np.ndarray) -> list[np.ndarray]:
    """An integer per row such that two rows (of any of the arrays) get the same id exactly when
    they are equal. Rows are packed into compact byte strings first (bits for 0/1 data, the
    smallest integer type for counts) and sorted once: no Python object per row, so 100,000 rows
    of 1,000 codes cost a few megabytes."""
    mats = [np.asarray(a) for a in arrays]
    if all(np.all((m == 0) | (m == 1)) for m in mats):
        packed = [np.packbits(m.astype(bool), axis=1) for m in mats]
    else:
        integral = all(np.array_equal(m, np.round(m)) and (m >= 0).all() for m in mats)
        top = max(float(m.max(initial=0)) for m in mats)
        dtype = np.uint8 if integral and top < 2**8 else np.uint16 if integral and top < 2**16 else np.float32
        packed = [np.ascontiguousarray(m, dtype=dtype) for m in mats]
    width = packed[0].shape[1] * packed[0].itemsize
    keys = np.concatenate([np.ascontiguousarray(p).view(np.dtype((np.void, width))).ravel() for p in packed])
    _, ids = np.unique(keys, return_inverse=True)
    bounds = np.cumsum([0] + [m.shape[0] for m in mats])
    return [ids[bounds[i] : bounds[i + 1]] for i in range(len(mats))]


class ExactCopy(Metric):
    """Exact-copy rate: share of synthetic records identical to some training record, beyond the
    share of real held-out records identical to some training record.

    Short records (a single common code) recur among real patients too, so a copy is only leakage
    above that baseline: ``exact_copy_excess`` = rate - held-out rate. The copy baseline
    (resampling training records) scores a rate of 1.
    """

    name = "exact_copy"
    category = "privacy"
    description = "synthetic records identical to a training record, beyond the held-out rate"
    scores = (
        Score("exact_copy_rate", "minimize", 0.0, 1.0, "exact_copy_holdout_rate", "share of synthetic records equal to a training record"),
        Score("exact_copy_holdout_rate", "minimize", 0.0, 1.0, None,
              "share of held-out records equal to a training record", reference=True),
        Score("exact_copy_excess", "minimize", -1.0, 1.0, 0.0, "exact_copy_rate minus the held-out rate"),
    )

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        train_ids, syn_ids, test_ids = row_ids(real_train.X, np.asarray(synthetic.X), real_test.X)
        seen = np.unique(train_ids)
        rate = float(np.isin(syn_ids, seen, assume_unique=False).mean())
        base = float(np.isin(test_ids, seen, assume_unique=False).mean())
        return {"exact_copy_rate": rate, "exact_copy_holdout_rate": base, "exact_copy_excess": rate - base}
