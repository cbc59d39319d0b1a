"""Two jobs side by side: each one's slowdown against running alone (issue 26, part 1).

A job computes in a budget of threads (``bench/core/threads.py``): the ``local`` executor gives
its one job every core, the ``process`` executor with ``-j N`` gives each job ``floor(cores / N)``,
and idle OpenMP workers spin only microseconds before they sleep (``GOMP_SPINCOUNT=10000``)
rather than a millisecond on a neighbour's core. Before the budgets, two quick medGAN fits side by side on 2 cores took 3x their time alone.

What it runs, through the same executors and job function as ``python -m bench run`` (only the
cheap ``dimwise_probability`` metric, since the fit is what is timed):

1. ``alone``: each seed's quick medGAN job by itself, ``--executor local`` (every core);
2. ``alone-share``: the same at one job's share of the cores when two run (for reference);
3. ``side-by-side``: the seeds' jobs at once, ``--executor process -j 2`` (each its share);
4. with ``--oversubscribe``: side by side again, each job at every core (no budget: the old
   default), to show the collapse the budgets prevent.

It prints each job's fit seconds and its slowdown (side by side / alone), the machine's load
average before and after, and the thread counts each job recorded. Figures only: nothing is
asserted (the machine and its neighbours decide them); goal: slowdown at most 1.3x. Run it on an
otherwise idle machine, from the repository root::

    python benchmarks/side_by_side.py
    python benchmarks/side_by_side.py --generator "medgan:max_updates=1000" --repeat 3 --oversubscribe
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bench.core.threads import passive_waiting, usable_cores  # noqa: E402  (before torch loads)

passive_waiting()


def fits(generator: str, dataset: str, seeds: list[int], kind: str, jobs: int, threads: int) -> list[dict[str, Any]]:
    """Fit seconds (and recorded threads) of one job per seed, run by the named executor."""
    from bench import harness
    from bench.executors import make_executor

    prep = harness.prepare(harness.RunConfig(
        generators=harness.parse_generators(generator, add_baseline=False), datasets=[dataset], seeds=seeds,
        metrics=["dimwise_probability"], preset="quick"))
    executor = make_executor(kind, jobs=jobs, threads=threads)
    try:
        out = []
        for job, record in executor.run(harness.run_job, prep, prep.jobs, None):
            if not record.ok:
                raise SystemExit(f"{job.id} failed: {record.error}")
            out.append({"seed": job.seed, "fit_s": record.fit_s, "threads": record.threads})
    finally:
        executor.close()
    return sorted(out, key=lambda r: r["seed"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", default="medgan", help="generator spec, at its quick preset (default: medgan)")
    p.add_argument("--dataset", default="eunomia")
    p.add_argument("--seeds", default="0,1", help="one job per seed; side by side they all run at once (default: 0,1)")
    p.add_argument("--repeat", type=int, default=1, help="repeat every measurement; medians are shown")
    p.add_argument("--oversubscribe", action="store_true",
                   help="also run the jobs side by side at every core each (no budget), for comparison")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    cores = usable_cores()
    share = max(1, cores // len(seeds))
    runs = [("alone", "local", 1, cores), ("alone-share", "local", 1, share),
            ("side-by-side", "process", len(seeds), share)]
    if args.oversubscribe:
        runs.append(("oversubscribed", "process", len(seeds), cores))
    load0 = os.getloadavg()
    print(f"{args.generator} (quick preset) on {args.dataset}, seeds {seeds}; {cores} usable cores; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}; load average {load0[0]:.2f} {load0[1]:.2f}",
          flush=True)
    times: dict[str, dict[int, list[float]]] = {name: {s: [] for s in seeds} for name, *_ in runs}
    threads: dict[str, set[int]] = {name: set() for name, *_ in runs}
    fits(args.generator, args.dataset, seeds[:1], "local", 1, cores)  # warm-up: imports, dataset cache
    for _ in range(args.repeat):
        for name, kind, jobs, k in runs:
            if kind == "local":  # one job at a time
                rows = [r for s in seeds for r in fits(args.generator, args.dataset, [s], kind, 1, k)]
            else:
                rows = fits(args.generator, args.dataset, seeds, kind, jobs, k)
            for r in rows:
                times[name][r["seed"]].append(r["fit_s"])
                threads[name].add(r["threads"])
    load1 = os.getloadavg()
    med = {name: {s: statistics.median(v) for s, v in by_seed.items()} for name, by_seed in times.items()}
    print(f"\n{'run':<15} {'threads/job':>11} " + " ".join(f"{'seed ' + str(s):>9}" for s in seeds)
          + "   slowdown vs alone (per seed)")
    for name, *_ in runs:
        cells = " ".join(f"{med[name][s]:8.2f}s" for s in seeds)
        slow = ", ".join(f"{med[name][s] / med['alone'][s]:.2f}x" for s in seeds)
        print(f"{name:<15} {','.join(map(str, sorted(threads[name]))):>11} {cells}   {slow}")
    worst = max(med["side-by-side"][s] / med["alone"][s] for s in seeds)
    print(f"\nside by side, each job at its share: worst slowdown {worst:.2f}x against alone "
          f"(goal <= 1.3x); load average after {load1[0]:.2f} {load1[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
