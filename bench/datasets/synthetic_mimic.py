"""``synthetic-mimic``: SIMULATED records with MIMIC-III's shape, for speed and scaling work.

Nothing here comes from patients. The simulator reproduces the properties that make MIMIC-III
diagnosis matrices hard for generators, at any size up to 1,000,000 x 5,000 and beyond:

* shape: 46,520 records x 1,071 codes by default (medGAN's 3-digit MIMIC-III matrix), about 11
  distinct codes per record (density about 1%), growing with sqrt(d) for wider matrices;
* heavy-tailed code prevalence: code rates follow a Zipf-Mandelbrot law (1 / (rank + 2)^1.1)
  over a random order of the columns, so a few codes are common (the commonest on about 37% of
  records, as hypertension is in MIMIC-III) and most are rare;
* heavy-tailed record size: each record has an activity level (Gamma, mean 1), which scales all
  its code rates, as sicker patients collect more diagnoses;
* clusters of co-occurring codes: ``clusters`` groups of 5-20 codes (default d // 20); a record
  switches a cluster on (popular clusters more often, active records more often) and then has
  each member code with that member's own probability (0.3-0.9);
* a label driven by a few clusters: three of the twenty most popular clusters raise the log-odds
  of the label (by 2.5-3.5 each), plus a little from the record's activity; the intercept is
  solved so that the label's prevalence is ``prevalence`` (10% by default, MIMIC-III's
  in-hospital mortality). A logistic regression on the codes reaches an AUROC near 0.8.

Generation is vectorised and done a block of rows at a time straight into sparse form: the
dense matrix is never built (1,000,000 x 5,000 would be 20 GB as float32).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError

MIMIC_RECORDS = 46_520
MIMIC_CODES = 1_071
_CHUNK = 65_536  # rows per block; fixed so that a seed gives the same data on any machine
_ZIPF = 1.1
_ZIPF_OFFSET = 2.0  # flattens the head: the commonest code is on about 37% of records
_CLUSTER_SHARE = 0.4  # part of a record's codes that come from its clusters


def _sample(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn with weights whose cumulative sum is ``cum``, from uniforms ``u``."""
    return np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), cum.size - 1)


def _solve_scale(base: np.ndarray, w: np.ndarray, target: float) -> float:
    """The factor ``a`` for which a record expects ``target`` distinct background codes.

    A record of activity ``w`` has code ``j`` with probability ``1 - exp(-a * base_j * w)``
    (Poisson hits); the mean over the sample ``w`` is solved by bisection.
    """
    def distinct(a: float) -> float:
        return float((1.0 - np.exp(-a * np.outer(w, base))).sum(axis=1).mean())

    lo, hi = 0.0, max(1.0, target)
    while distinct(hi) < target and hi < 1e9:
        hi *= 2.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if distinct(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def make_synthetic_mimic(
    n: int = MIMIC_RECORDS,
    d: int = MIMIC_CODES,
    seed: int = 0,
    kind: str = "binary",
    clusters: int = 0,
    codes_per_record: float = 0.0,
    prevalence: float = 0.10,
) -> EHRDataset:
    """Simulate ``n`` records x ``d`` codes as described in the module docstring (kept sparse)."""
    if n < 50:
        raise DatasetError(f"synthetic-mimic: n must be at least 50 records, got {n}")
    if d < 20:
        raise DatasetError(f"synthetic-mimic: d must be at least 20 codes, got {d}")
    if kind not in ("binary", "count"):
        raise DatasetError(f"synthetic-mimic: kind must be binary or count, got {kind!r}")
    if not 0.0 < prevalence < 1.0:
        raise DatasetError(f"synthetic-mimic: prevalence must be in (0, 1), got {prevalence}")
    if clusters < 0:
        raise DatasetError(f"synthetic-mimic: clusters must be 0 (automatic) or positive, got {clusters}")
    m = codes_per_record or 11.0 * np.sqrt(d / MIMIC_CODES)
    if not 0.0 < m < d / 2:
        raise DatasetError(f"synthetic-mimic: codes_per_record must be in (0, d/2), got {m}")
    n_clusters = clusters or max(4, d // 20)
    rng = np.random.default_rng(seed)

    # codes: Zipf rates over a random order of the columns
    base = 1.0 / (np.arange(1, d + 1) + _ZIPF_OFFSET) ** _ZIPF
    base = base[rng.permutation(d)]
    base /= base.sum()
    # clusters: members favour common codes (sqrt of the rate), each member has its own rate
    sizes = np.minimum(5 + rng.poisson(6, n_clusters), min(20, d // 2))
    member_weight = np.sqrt(base)
    members = [
        rng.choice(d, size=s, replace=False, p=member_weight / member_weight.sum()) for s in sizes
    ]
    member_ptr = np.concatenate([[0], np.cumsum(sizes)])
    member_code = np.concatenate(members)
    member_p = rng.uniform(0.3, 0.9, member_code.size)
    popularity = 1.0 / np.arange(1, n_clusters + 1) ** 1.0
    popularity /= popularity.sum()  # cluster c is the (c+1)-th most popular
    risk = rng.choice(min(20, n_clusters), size=min(3, n_clusters), replace=False)
    risk_beta = rng.uniform(2.5, 3.5, risk.size)

    # rates: background part solved for distinct codes; clusters switched on at rate a_cl * w
    w_probe = rng.gamma(1.5, 1 / 1.5, 500)
    bg_scale = _solve_scale(base, w_probe, (1 - _CLUSTER_SHARE) * m)
    bg_rate = bg_scale * base
    codes_per_active = float(np.mean([member_p[member_ptr[c] : member_ptr[c + 1]].sum()
                                      for c in range(n_clusters)]))
    cl_rate = _CLUSTER_SHARE * m / codes_per_active  # expected cluster switch-ons per unit activity
    bg_cum = np.cumsum(bg_rate)
    pop_cum = np.cumsum(popularity)

    blocks = []
    risk_score = np.zeros(n)
    activity = np.empty(n)
    for start in range(0, n, _CHUNK):
        rows = min(_CHUNK, n - start)
        w = rng.gamma(1.5, 1 / 1.5, rows)
        activity[start : start + rows] = w
        w_cum = np.cumsum(w)
        # background: Poisson hits, split over codes by rate and over records by activity
        k = rng.poisson(bg_cum[-1] * w_cum[-1])
        r_bg = _sample(w_cum, rng.random(k))
        c_bg = _sample(bg_cum, rng.random(k))
        # clusters switched on, then each member drawn with its own probability
        k = rng.poisson(cl_rate * w_cum[-1])
        pair = np.unique(_sample(w_cum, rng.random(k)) * n_clusters + _sample(pop_cum, rng.random(k)))
        r_on, c_on = pair // n_clusters, pair % n_clusters
        for c, beta in zip(risk, risk_beta, strict=True):
            risk_score[start + r_on[c_on == c]] += beta
        span = sizes[c_on]
        slot = np.repeat(member_ptr[c_on], span) + (
            np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
        )
        hit = rng.random(slot.size) < member_p[slot]
        r_cl = np.repeat(r_on, span)[hit]
        c_cl = member_code[slot[hit]]
        # a code found through a cluster recurs with the record's activity; drawn for both kinds
        # so that, for one seed, the binary matrix is exactly the count matrix's support
        v_cl = 1.0 + rng.poisson(0.3 * w[r_cl])
        # every MIMIC-III patient has a diagnosis: a record left empty gets one background code
        empty = np.flatnonzero(np.bincount(np.concatenate([r_bg, r_cl]), minlength=rows) == 0)
        c_fill = _sample(bg_cum, rng.random(empty.size))
        block = sparse.coo_array(
            (
                np.concatenate([np.ones(r_bg.size), v_cl, np.ones(empty.size)]).astype(np.float32),
                (
                    np.concatenate([r_bg, r_cl, empty]).astype(np.int32),
                    np.concatenate([c_bg, c_cl, c_fill]).astype(np.int32),
                ),
            ),
            shape=(rows, d),
        ).tocsr()
        block.sum_duplicates()
        if kind == "binary":
            block.data[:] = 1.0
        blocks.append(block)
    X = sparse.vstack(blocks, format="csr") if len(blocks) > 1 else blocks[0]
    del blocks

    logit = risk_score + 0.5 * np.log(activity)
    lo, hi = -30.0, 30.0  # intercept for the wanted prevalence, by bisection
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if (1.0 / (1.0 + np.exp(-(logit + mid)))).mean() < prevalence:
            lo = mid
        else:
            hi = mid
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(logit + 0.5 * (lo + hi))))).astype(np.int64)
    if y.min() == y.max():  # a tiny n at an extreme prevalence: keep both classes
        y[int(rng.integers(n))] = 1 - y[0]

    width = len(str(d - 1))
    return EHRDataset(
        X=X,
        y=y,
        columns=[f"sim{j:0{width}d}" for j in range(d)],
        names=[f"simulated code {j}" for j in range(d)],
        kind=kind,
        name="synthetic-mimic",
        label_name="simulated_outcome",
        source=f"simulated (synthetic-mimic n={n} d={d} seed={seed})",
    )
