"""Benchmarks of the metrics (opt-in: they are skipped unless benchmarks are enabled).

    python -m pytest tests/test_benchmark_metrics.py --benchmark-enable -s

prints (1) binary column-pair fidelity against SDMetrics' Column Pair Trends on eunomia-sized
data, with both scores, and (2) every default metric on one 50,000 x 1,000 binary job, in a fresh
process so its peak resident memory is the job's own. The suite also runs as a script:

    python tests/test_benchmark_metrics.py suite --records 50000 --codes 1000

Figures depend on the machine (and on what else runs on it): they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.core.data import EHRDataset
from bench.memory import PeakMemory

ROOT = Path(__file__).resolve().parents[1]


def make_records(n_records: int, n_codes: int, seed: int = 0, n_groups: int = 25) -> EHRDataset:
    """Binary EHR-like records with structure: latent patient groups, each with its own sparse
    code profile (density about 0.05), and a label driven by the group and a few codes."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n_records)
    profile = rng.beta(0.25, 4.0, (n_groups, n_codes)).astype(np.float32)
    X = np.empty((n_records, n_codes), dtype=np.float32)
    step = 10_000
    for s in range(0, n_records, step):
        g = group[s : s + step]
        X[s : s + step] = rng.random((g.size, n_codes), dtype=np.float32) < profile[g]
    logit = -2.0 + 1.5 * (group % 4 == 0) + 1.0 * X[:, 0] + 0.8 * X[:, 1] - 0.6 * X[:, 2]
    y = (rng.random(n_records) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return EHRDataset(X=X, y=y, columns=[f"c{j}" for j in range(n_codes)], name=f"bench{n_records}x{n_codes}")


def run_suite(n_train: int, n_codes: int, seed: int = 0) -> dict:
    """Every default metric on one job: ``n_train`` training records (80 % of the dataset, as the
    harness splits), a 20 % held-out set, and as many synthetic records as training records from
    the independent baseline (conditional, so the utility metrics run)."""
    import resource

    from generators.baselines import IndependentGenerator
    from metrics import registry
    from metrics.base import SyntheticData

    t0 = time.perf_counter()
    data = make_records(n_train + n_train // 4, n_codes, seed)
    train, test = data.split(seed=0)
    del data
    gen = IndependentGenerator(random_state=seed).fit(train)
    X, y = gen.sample(train.n_records, train.y)
    synthetic = SyntheticData(X, y, {"fit_s": 1.0, "sample_s": 1.0, "peak_mem_mb": 1.0})
    setup_s = time.perf_counter() - t0
    rows = []
    names = registry.default_names()
    t_all = time.perf_counter()
    with PeakMemory() as overall:
        for name in names:
            cls = registry.get_class(name)
            metric = cls(random_state=seed)
            t = time.perf_counter()
            with PeakMemory() as mem:
                try:
                    values, note = metric.compute(train, test, synthetic), ""
                except Exception as exc:  # recorded, the suite goes on (as in the harness)
                    values, note = {}, f"{type(exc).__name__}: {exc}"
            rows.append({"metric": name, "seconds": round(time.perf_counter() - t, 2),
                         "peak_rss_mb": round(mem.peak_mb), "values": values, "note": note})
    return {
        "train": list(train.X.shape), "test": list(test.X.shape), "synthetic": list(X.shape),
        "setup_s": round(setup_s, 1),
        "metrics_s": round(time.perf_counter() - t_all, 1),
        "peak_rss_mb_during_metrics": round(overall.peak_mb),
        "max_rss_mb_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "cpus": len(os.sched_getaffinity(0)),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "rows": rows,
    }


def _skip_unless_enabled(benchmark) -> None:
    if getattr(benchmark, "disabled", False):
        pytest.skip("benchmark: run with --benchmark-enable")


def test_benchmark_pair_fidelity_vs_sdmetrics(benchmark) -> None:
    """Binary column-pair fidelity vs SDMetrics' Column Pair Trends: same score, and the speed-up."""
    _skip_unless_enabled(benchmark)
    pd = pytest.importorskip("pandas")
    pytest.importorskip("sdmetrics")
    import warnings

    from sdmetrics.reports.single_table._properties import ColumnPairTrends

    from generators.baselines import IndependentGenerator
    from metrics import _stats
    from metrics.base import SyntheticData
    from metrics.fidelity import ColumnPairFidelity

    try:
        from bench import datasets

        real = datasets.load("eunomia").split(seed=0)[0]
        real = real.subset(np.arange(min(2000, real.n_records)))
    except Exception:  # eunomia unavailable: same shape, simulated
        real = make_records(2000, 243, seed=1)
    X, y = IndependentGenerator(random_state=0).fit(real).sample(real.n_records, real.y)
    synthetic = SyntheticData(X, y)
    metric = ColumnPairFidelity()

    def uncached() -> dict[str, float]:
        _stats._CACHE.clear()  # time the Gram products too, as the first metric of a job pays them
        return metric.compute(real, real, synthetic)

    ours = benchmark(uncached)
    t = time.perf_counter()
    ours_once = uncached()
    ours_s = time.perf_counter() - t

    cols = [f"c{j}" for j in range(real.n_codes)]
    meta = {"columns": {c: {"sdtype": "categorical"} for c in cols}}
    real_df = pd.DataFrame(real.X.astype(np.int64), columns=cols)
    syn_df = pd.DataFrame(X.astype(np.int64), columns=cols)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        sdm = ColumnPairTrends().get_score(real_df, syn_df, meta)
        sdm_s = time.perf_counter() - t
        prop = ColumnPairTrends()
        prop.real_association_threshold = 0.3  # what QualityReport sets
        sdm_assoc = prop.get_score(real_df, syn_df, meta)
    print(f"\ncolumn-pair fidelity on {real.n_records} x {real.n_codes}: ours {ours_s * 1000:.1f} ms "
          f"(score {ours_once['pair_fidelity']:.9f}, assoc {ours_once['pair_fidelity_assoc']:.9f}); "
          f"SDMetrics ColumnPairTrends {sdm_s:.1f} s (score {sdm:.9f}, assoc {sdm_assoc:.9f}); "
          f"speed-up {sdm_s / max(ours_s, 1e-9):.0f}x; load average {os.getloadavg()[0]:.1f}")
    assert abs(ours["pair_fidelity"] - sdm) < 1e-6
    assert abs(ours["pair_fidelity_assoc"] - sdm_assoc) < 1e-6


def test_benchmark_default_suite_50k(benchmark) -> None:
    """All default metrics on one 50,000 x 1,000 binary job, in a fresh process limited to 2 threads."""
    _skip_unless_enabled(benchmark)
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    cmd = [sys.executable, str(Path(__file__).resolve()), "suite", "--records", "50000", "--codes", "1000"]

    def once() -> dict:
        out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    result = benchmark.pedantic(once, rounds=1, iterations=1)
    print("\n" + format_suite(result))
    for row in result["rows"]:
        assert not row["note"] or row["note"].startswith("MetricNotApplicable"), row
        assert all(np.isfinite(v) for v in row["values"].values()), row


def format_suite(result: dict) -> str:
    lines = [f"train {result['train']}, held-out {result['test']}, synthetic {result['synthetic']}; "
             f"{result['cpus']} CPUs visible, load average {result['load_avg_1m']}"]
    for row in result["rows"]:
        lines.append(f"  {row['metric']:<22} {row['seconds']:>7.2f} s  peak {row['peak_rss_mb']:>6} MB  {row['note']}")
    lines.append(f"  all default metrics: {result['metrics_s']} s; peak RSS {result['peak_rss_mb_during_metrics']} MB "
                 f"(process max {result['max_rss_mb_process']} MB, data setup {result['setup_s']} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["suite"])
    parser.add_argument("--records", type=int, default=50_000, help="training records")
    parser.add_argument("--codes", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    res = run_suite(args.records, args.codes, args.seed)
    print(format_suite(res), file=sys.stderr)
    print(json.dumps(res, default=float))
