"""Scaling figures for parallel runs and for a 1,000,000-patient dataset (issue 8).

Two parts, each printing a table (and ``--json PATH`` keeps the numbers):

``quick``
    The quick preset (``python -m bench run --quick -g independent,real-copy[,meddiff,medgan]
    -d eunomia -s 0,1``) with ``--executor process --jobs 1`` and ``--jobs 2``, every job at
    ``--threads 1``: wall seconds of the whole command, and whether the two runs' ``scores.csv``
    are byte-identical (they must be: an executor never changes a score). The thread count is
    pinned because it is part of a job's float path (a job's reductions split across its threads;
    jobs.csv records each job's count): left to the executor, ``-j 1`` would give its one job
    every core and ``-j 2`` each job half, and the two runs would differ in their last digits for
    that reason alone, not the executor's.

``million``
    A simulated dataset of 1,000,000 patients (``synthetic-mimic``; simulated here if that dataset
    is not registered): the time and peak resident memory of loading it, then of each privacy and
    fidelity metric built on the chunked nearest-neighbour distances of ``metrics/_distance.py``,
    scored against a second simulated draw standing in for a generator's output. The table sets
    the peak memory beside the dense size of the data the metric reads and beside the distance
    matrix an unchunked search would hold, to show that memory follows the data, not the number
    of distances.

Figures only: nothing here asserts a wall time (the machine and its load decide those). Run it
from the repository root::

    python benchmarks/scaling.py                  # both parts
    python benchmarks/scaling.py quick --jobs 1,2,4
    python benchmarks/scaling.py million --n 1000000 --json million.json

The 1M part needs about 8 GB of memory at MIMIC-III's 1,071 codes (dense float32 copies of the
training and synthetic records, which the distance metrics read) and is kept out of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

QUICK_GENERATORS = ("independent", "real-copy", "meddiff", "medgan")
DISTANCE_METRICS = ("mia_dcr", "dcr", "nnaa", "attribute_inference", "prdc", "mmd")


# ------------------------------------------------------------------------------------- quick preset
def available_generators(wanted: tuple[str, ...] = QUICK_GENERATORS) -> list[str]:
    """The wanted generators that this checkout can build (meddiff and medgan may be absent)."""
    from bench.core.errors import BenchError
    from generators import registry

    out = []
    for name in wanted:
        try:
            registry.get_class(name)
        except BenchError:
            continue
        out.append(name)
    return out


def quick_preset(jobs: list[int], seeds: str = "0,1", generators: list[str] | None = None,
                 dataset: str = "eunomia", executor: str = "process", keep: str | None = None
                 ) -> list[dict[str, Any]]:
    """Run the quick preset once per worker count; wall seconds and the scores' identity.

    The run directories go to ``keep`` when given (to inspect them), else to a temporary folder.
    """
    gens = ",".join(generators or available_generators())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ehrbench-scaling-") as tmp:
        # every run uses one copy of the code, so that edits made meanwhile cannot change scores
        code = Path(tmp) / "code"
        for pkg in ("bench", "generators", "metrics"):
            shutil.copytree(ROOT / pkg, code / pkg, ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "EHRBENCH_PROGRESS": "0",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")]))}
        for i, n in enumerate(jobs):
            out = Path(keep or tmp) / f"{i}-{executor}-jobs{n}"
            cmd = [sys.executable, "-m", "bench", "run", "--quick", "-g", gens, "-d", dataset, "-s", seeds,
                   "--executor", executor, "--jobs", str(n), "--threads", "1", "--out", str(out), "--no-progress",
                   "--force"]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
            import pandas as pd

            table = pd.read_csv(out / "jobs.csv")
            manifest = json.loads((out / "manifest.json").read_text())
            rows.append({
                "executor": executor, "workers": n, "code_version": manifest["code_version"],
                "generators": gens, "jobs": len(table),
                "failed": int((table["status"] != "ok").sum()), "wall_s": round(wall, 1),
                "sum_job_wall_s": round(float(table["wall_s"].sum()), 1),
                "scores": (out / "scores.csv").read_bytes(),
            })
    first = rows[0]["scores"]
    for row in rows:
        scores = row.pop("scores")
        if row["code_version"] != rows[0]["code_version"]:  # cannot happen with the copy; checked anyway
            row["scores_identical_to_first"] = "code changed"
            continue
        row["scores_identical_to_first"] = scores == first
        if scores != first:
            row["differing_scores"] = differing_scores(first, scores)
    return rows


def differing_scores(a: bytes, b: bytes, limit: int = 12) -> str:
    """The (generator, seed, score) rows whose values differ between two ``scores.csv``."""
    import io

    import pandas as pd

    keys = ["generator", "dataset", "seed", "metric", "score"]
    left, right = (pd.read_csv(io.BytesIO(x)).set_index(keys)["value"] for x in (a, b))
    both = pd.concat([left, right], axis=1, keys=["a", "b"])
    diff = both[~((both["a"] == both["b"]) | (both["a"].isna() & both["b"].isna()))]
    return "; ".join(f"{g}/s{s}/{m}: {x!r} vs {y!r}" for (g, _, s, _, m), (x, y) in diff.head(limit).iterrows())


# ----------------------------------------------------------------------------------- 1M patients
def _simulate(n: int, d: int, seed: int) -> Any:
    """A stand-in when ``synthetic-mimic`` is not registered: independent codes with heavy-tailed
    prevalence, built a block of rows at a time straight into CSR (never dense)."""
    import numpy as np
    from scipy import sparse

    from bench.core.data import EHRDataset

    rng = np.random.default_rng(seed)
    p = np.minimum(0.37, 1.0 / (np.arange(d) + 3.0) ** 1.1 * 1.2)
    blocks, labels = [], []
    for start in range(0, n, 65_536):
        m = min(65_536, n - start)
        block = sparse.csr_array((rng.random((m, d), dtype=np.float32) < p).astype(np.float32))
        blocks.append(block)
        labels.append((rng.random(m) < 0.1).astype(np.int64))
    return EHRDataset(X=sparse.vstack(blocks, format="csr"), y=np.concatenate(labels),
                      columns=[f"c{j}" for j in range(d)], name="simulated", source="simulated")


def load_simulated(n: int, d: int, seed: int) -> tuple[Any, str]:
    from bench import datasets

    if "synthetic-mimic" in datasets.available():
        return datasets.load("synthetic-mimic", n=n, d=d, seed=seed), "synthetic-mimic"
    return _simulate(n, d, seed), "simulated in benchmarks/scaling.py"


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def million(n: int = 1_000_000, d: int = 1_071, metrics: tuple[str, ...] = DISTANCE_METRICS,
            test_size: float = 0.2) -> list[dict[str, Any]]:
    """Load n patients, then score each distance metric on them; time and peak RSS of each step."""
    import torch  # noqa: F401 - PeakMemory imports it: not a cost of loading the data

    from bench.memory import PeakMemory
    from metrics import registry
    from metrics._distance import CHUNK_ELEMENTS
    from metrics.base import SyntheticData

    rows: list[dict[str, Any]] = []
    before = _rss_mb()
    with PeakMemory(interval=0.05) as mem:
        t0 = time.perf_counter()
        data, source = load_simulated(n, d, seed=0)
        load_s = time.perf_counter() - t0
    csr = data.X_sparse
    rows.append({
        "step": f"load {n:,} x {d:,} ({source})", "seconds": round(load_s, 1),
        "rss_before_mb": round(before), "peak_rss_mb": round(mem.peak_mb),
        "data_mb": round((csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes) / 2**20),
        "note": f"CSR, {csr.nnz:,} codes present; dense float32 would be {n * d * 4 / 2**30:.1f} GB",
    })
    with PeakMemory(interval=0.05) as mem:
        t0 = time.perf_counter()
        train, test = data.split(seed=0, test_size=test_size)
        del data, csr
        split_s = time.perf_counter() - t0
    rows.append({"step": "split (sparse)", "seconds": round(split_s, 1), "rss_before_mb": round(before),
                 "peak_rss_mb": round(mem.peak_mb), "data_mb": None,
                 "note": f"{train.n_records:,} training, {test.n_records:,} held-out records"})
    # a generator's output stands in as a second draw of the simulator, as many records as training
    t0 = time.perf_counter()
    fake, _ = load_simulated(train.n_records, d, seed=1)
    X_syn = fake.X  # dense float32, as a generator returns it
    y_syn = fake.y
    del fake
    syn_s = time.perf_counter() - t0
    rows.append({"step": "synthetic records (second draw, dense)", "seconds": round(syn_s, 1),
                 "rss_before_mb": None, "peak_rss_mb": round(_rss_mb()),
                 "data_mb": round(X_syn.nbytes / 2**20),
                 "note": f"{X_syn.shape[0]:,} x {d:,} float32; all training x synthetic distances would be "
                         f"{train.n_records * X_syn.shape[0] * 4 / 2**40:.1f} TB, one block of "
                         f"metrics/_distance.py holds {CHUNK_ELEMENTS * 4 / 2**20:.0f} MB"})
    synthetic = SyntheticData(X=X_syn, y=y_syn)
    for name in metrics:
        cls = registry.get_class(name)
        metric = cls(random_state=0)
        base = _rss_mb()
        with PeakMemory(interval=0.05) as mem:
            t0 = time.perf_counter()
            values = metric.compute(train, test, synthetic)
            seconds = time.perf_counter() - t0
        dense_train = train.has_dense
        train.drop_dense()  # the next metric starts from the sparse data again
        test.drop_dense()
        caps = {k: v for k, v in vars(metric).items() if k.startswith("max_")}
        rows.append({
            "step": f"metric {name}", "seconds": round(seconds, 1), "rss_before_mb": round(base),
            "peak_rss_mb": round(mem.peak_mb),
            "data_mb": round(X_syn.nbytes / 2**20 + (train.n_records * d * 4 / 2**20 if dense_train else 0)),
            "note": f"caps {caps}; " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(values.items())),
        })
    return rows


# ---------------------------------------------------------------------------------------- output
def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    print(f"\n## {title}\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for r in rows:
        print("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + " |")


def machine_line() -> str:
    import psutil

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GB RAM, "
            f"load average {load[0]:.1f} at start")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", nargs="?", default="all", choices=("all", "quick", "million"))
    p.add_argument("--jobs", default="1,2", help="worker counts for the quick preset (default: 1,2)")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--generators", default=None, help="default: independent,real-copy,meddiff,medgan (those present)")
    p.add_argument("--executor", default="process", choices=("process", "ray"))
    p.add_argument("--dataset", default="eunomia", help="dataset of the quick preset part (toy: a smoke run)")
    p.add_argument("--n", type=int, default=1_000_000, help="patients in the simulated dataset")
    p.add_argument("--d", type=int, default=1_071, help="codes (default: MIMIC-III's 3-digit ICD-9 count)")
    p.add_argument("--metrics", default=",".join(DISTANCE_METRICS))
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument("--keep", default=None, help="keep the quick preset's run directories in this folder")
    args = p.parse_args(argv)

    print(f"machine: {machine_line()}")
    figures: dict[str, Any] = {"machine": machine_line()}
    if args.part in ("all", "quick"):
        gens = args.generators.split(",") if args.generators else None
        rows = quick_preset([int(x) for x in args.jobs.split(",")], args.seeds, gens, dataset=args.dataset,
                            executor=args.executor, keep=args.keep)
        print_table(f"quick preset on {args.dataset}", rows)
        figures["quick"] = rows
    if args.part in ("all", "million"):
        rows = million(args.n, args.d, tuple(x for x in args.metrics.split(",") if x))
        print_table(f"{args.n:,} simulated patients", rows)
        figures["million"] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
