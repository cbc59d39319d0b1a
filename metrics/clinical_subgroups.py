"""Clinical validity within subgroups and against clinical knowledge.

``subgroup_fidelity``: code prevalences within subgroups, real training vs synthetic. Subgroups
are the two label classes, and where the dataset carries the demographic columns of the naming
convention in :mod:`bench.core.data` (``sex:F``, ``sex:M``, ``age:<band>``; the omop and eunomia
loaders add them with ``demographics=true``) each sex and each age band. A record belongs to a
subgroup when its column is 1 (synthetic records are assigned by their generated columns). Per
subgroup: the mean absolute difference of the code prevalences (codes = the non-demographic
columns). A subgroup enters when it holds at least ``min_records`` (20) real training records; a
synthetic set with no record in it scores that subgroup as if every synthetic prevalence were 0.
The same statistic between real held-out and real training records is the reference: sampling
noise alone gives that much.

``knowledge_violations``: records with a code specific to one sex in a record of the other sex,
and records with both sex columns set. The sex-specific codes are OMOP concepts present in
Eunomia whose meaning fixes the sex by anatomy (see :data:`SEX_SPECIFIC`); Eunomia itself has no
pregnancy, prostate, ovary or testis concepts. In Eunomia's real records the rate is 0.
"""

from __future__ import annotations

import numpy as np

from bench.core.data import AGE_PREFIX, SEX_FEMALE, SEX_MALE, EHRDataset, is_demographic
from bench.core.errors import MetricNotApplicable
from metrics.base import Metric, Score, Scores, SyntheticData, check_columns

# column id -> the only sex it can occur in. Procedures on the uterus or fallopian tubes, the
# intrauterine and vaginal contraceptives, the two oral contraceptives common in Eunomia (605 and
# 253 women), and vasectomy; each held by persons of that sex only in Eunomia's records.
SEX_SPECIFIC: dict[str, str] = {
    "procedure:4117038": "F",  # Bilateral tubal ligation
    "procedure:4275113": "F",  # Insertion of intrauterine contraceptive device
    "procedure:4238715": "F",  # Removal of intrauterine device
    "procedure:4186930": "F",  # Replacement of intrauterine contraceptive device
    "drug:19132304": "F",  # Levonorgestrel intrauterine system [Mirena]
    "drug:43012433": "F",  # Ethinyl estradiol / etonogestrel vaginal ring [NuvaRing]
    "drug:19128065": "F",  # Mestranol / norethindrone oral contraceptive [Norinyl 1+50]
    "drug:19128022": "F",  # Ethinyl estradiol / norgestimate oral contraceptive [Ortho Tri-Cyclen]
    "procedure:4330583": "M",  # Vasectomy
}


def subgroup_columns(data: EHRDataset) -> dict[str, list[int]]:
    """{"sex": [column indices], "age": [...]} of the demographic columns the dataset carries."""
    cols = list(data.columns)
    return {
        "sex": [j for j, c in enumerate(cols) if c in (SEX_FEMALE, SEX_MALE)],
        "age": [j for j, c in enumerate(cols) if c.startswith(AGE_PREFIX)],
    }


def _mad(P_a: np.ndarray, P_b: np.ndarray) -> float:
    """Mean absolute difference of the code prevalences of two groups; an empty group has
    prevalence 0 everywhere."""
    pa = P_a.mean(axis=0) if P_a.shape[0] else np.zeros(P_a.shape[1])
    pb = P_b.mean(axis=0) if P_b.shape[0] else np.zeros(P_b.shape[1])
    return float(np.abs(pa - pb).mean())


class SubgroupFidelity(Metric):
    """Code prevalences within label, sex and age-band subgroups, real vs synthetic."""

    name = "subgroup_fidelity"
    category = "clinical"
    description = "code prevalences within subgroups (label; sex and age band where present), real vs synthetic"
    scores = (
        Score("subgroup_label_mad", "minimize", 0.0, 1.0, 0.0,
              "mean over the label classes of the mean absolute code-prevalence difference"),
        Score("subgroup_sex_mad", "minimize", 0.0, 1.0, 0.0,
              "mean over the sexes of the mean absolute code-prevalence difference"),
        Score("subgroup_age_mad", "minimize", 0.0, 1.0, 0.0,
              "mean over the age bands of the mean absolute code-prevalence difference"),
        Score("subgroup_worst_mad", "minimize", 0.0, 1.0, 0.0,
              "the largest mean absolute code-prevalence difference of any subgroup"),
        Score("subgroup_worst_mad_real", "minimize", 0.0, 1.0, 0.0,
              "the same for real held-out records: the level sampling noise alone gives", reference=True),
        Score("subgroup_share_diff", "minimize", 0.0, 1.0, 0.0,
              "the largest absolute difference between a subgroup's share of the records, real vs synthetic"),
    )

    def __init__(self, random_state: int | None = 0, min_records: int = 20) -> None:
        super().__init__(random_state)
        self.min_records = min_records

    def compute(self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData) -> dict[str, float]:
        notes: dict[str, str] = {}
        check_columns(real_train, synthetic)
        demo = subgroup_columns(real_train)
        has_label = real_train.y is not None and synthetic.y is not None
        if not has_label and not demo["sex"] and not demo["age"]:
            raise MetricNotApplicable(
                "no subgroup to compare: the records carry no label and the dataset no sex or age "
                "columns (omop/eunomia: demographics=true)"
            )
        codes = np.array([j for j, c in enumerate(real_train.columns) if not is_demographic(c)], dtype=np.int64)
        X_r = np.asarray(real_train.X) > 0
        X_s = np.asarray(synthetic.X) > 0
        X_t = np.asarray(real_test.X) > 0
        # (family, mask on real train, mask on synthetic, mask on real test)
        groups: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
        if has_label:
            for c in (0, 1):
                groups.append(("label", real_train.y == c, np.asarray(synthetic.y) == c,
                               np.zeros(X_t.shape[0], bool) if real_test.y is None else real_test.y == c))
        else:
            notes["subgroup_label_mad"] = "the real or the synthetic records carry no label"
        for fam in ("sex", "age"):
            if not demo[fam]:
                notes[f"subgroup_{fam}_mad"] = (
                    f"the dataset has no {fam} columns (omop/eunomia: demographics=true)")
            for j in demo[fam]:
                groups.append((fam, X_r[:, j], X_s[:, j], X_t[:, j]))
        per_family: dict[str, list[float]] = {}
        worst, worst_real, share = [], [], []
        for fam, m_r, m_s, m_t in groups:
            if m_r.sum() < self.min_records:
                continue
            mad = _mad(X_r[m_r][:, codes], X_s[m_s][:, codes])
            per_family.setdefault(fam, []).append(mad)
            worst.append(mad)
            if m_t.sum() >= self.min_records:
                worst_real.append(_mad(X_r[m_r][:, codes], X_t[m_t][:, codes]))
            share.append(abs(float(m_r.mean()) - float(m_s.mean())))
        out: dict[str, float] = {}
        for fam in ("label", "sex", "age"):
            key = f"subgroup_{fam}_mad"
            if fam in per_family:
                out[key] = float(np.mean(per_family[fam]))
            elif key not in notes:
                notes[key] = f"no {fam} subgroup holds {self.min_records} real training records"
        if not worst:
            raise MetricNotApplicable(f"no subgroup holds {self.min_records} real training records")
        out["subgroup_worst_mad"] = float(max(worst))
        out["subgroup_share_diff"] = float(max(share))
        if worst_real:
            out["subgroup_worst_mad_real"] = float(max(worst_real))
        else:
            notes["subgroup_worst_mad_real"] = f"no subgroup holds {self.min_records} real held-out records"
        return Scores(out, notes)


class KnowledgeViolations(Metric):
    """Sex-specific codes in records of the other sex, and records with both sexes."""

    name = "knowledge_violations"
    category = "clinical"
    description = "records with a sex-specific code of the other sex (eunomia's concepts), synthetic vs real"
    scores = (
        Score("sex_violation_rate", "minimize", 0.0, 1.0, 0.0,
              "fraction of synthetic records of one sex holding a code specific to the other sex"),
        Score("sex_violation_rate_real", "minimize", 0.0, 1.0, 0.0,
              "the same fraction in the real training records", reference=True),
        Score("sex_conflict_rate", "minimize", 0.0, 1.0, 0.0,
              "fraction of synthetic records with both sex:F and sex:M set"),
    )

    def compute(self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData) -> dict[str, float]:
        notes: dict[str, str] = {}
        cols = list(real_train.columns)
        if SEX_FEMALE not in cols or SEX_MALE not in cols:
            raise MetricNotApplicable(
                "the dataset has no sex columns sex:F / sex:M (omop/eunomia: demographics=true)"
            )
        specific = {c: s for c, s in SEX_SPECIFIC.items() if c in cols}
        if not specific:
            raise MetricNotApplicable("none of the sex-specific concepts of the list is a column of the dataset")
        check_columns(real_train, synthetic)
        f, m = cols.index(SEX_FEMALE), cols.index(SEX_MALE)
        only_f = [cols.index(c) for c, s in specific.items() if s == "F"]
        only_m = [cols.index(c) for c, s in specific.items() if s == "M"]

        def rate(X: np.ndarray) -> float | None:
            X = np.asarray(X) > 0
            female = X[:, f] & ~X[:, m]
            male = X[:, m] & ~X[:, f]
            wrong = (female & X[:, only_m].any(axis=1)) | (male & X[:, only_f].any(axis=1))
            n = int((female | male).sum())
            return None if n == 0 else float(wrong.sum() / n)

        out: dict[str, float] = {}
        syn = rate(synthetic.X)
        if syn is None:
            notes["sex_violation_rate"] = "no synthetic record has exactly one sex column set"
        else:
            out["sex_violation_rate"] = syn
        real = rate(real_train.X)
        if real is not None:
            out["sex_violation_rate_real"] = real
        else:
            notes["sex_violation_rate_real"] = "no real record has exactly one sex column set"
        Xs = np.asarray(synthetic.X) > 0
        out["sex_conflict_rate"] = float((Xs[:, f] & Xs[:, m]).mean())
        return Scores(out, notes)
