"""``python -m bench``: run the benchmark grid, list what is available, and the tools around it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.core.errors import BenchError, OptionError
from bench.core.options import DatasetSpec

DEFAULT_GENERATORS = "independent,real-copy"
DEFAULT_RESULTS = Path("results")


def _int_list(option: str, text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise OptionError(f"{option}: expected comma-separated integers, got {text!r}") from None


def _name_list(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _add_split_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split-seed", type=int, default=None,
                   help="pin one train/validation/test split for every seed (default: each seed draws its own "
                        "stratified split, so the spread over seeds includes the split's)")
    p.add_argument("--val-size", type=float, default=0.1,
                   help="validation fraction, reserved for tuning and never trained on or scored (default: 0.1; "
                        "0: none)")
    p.add_argument("--test-size", type=float, default=0.2, help="test fraction, what the tables score (default: 0.2)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="ehrbench: benchmark generators of synthetic electronic health records.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="train, sample and score generators x datasets x seeds")
    r.add_argument("--generators", "-g", default=None,
                   help="comma-separated generator specs, options as name:key=value,key=value "
                        f"(default: {DEFAULT_GENERATORS}; 'all': every built-in generator); "
                        "'independent' is always added as the baseline")
    r.add_argument("--datasets", "-d", default="eunomia", help="comma-separated dataset names (default: eunomia)")
    r.add_argument("--data-dir", default=None, help="directory holding a user-supplied dataset's files")
    r.add_argument("--seeds", "-s", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    r.add_argument("--metrics", "-m", default=None, help="comma-separated metrics (default: the default suite)")
    r.add_argument("--quick", action="store_true", help="the 'quick' preset of every generator: small, for smoke runs and CI")
    r.add_argument("--preset", default=None, help="a named preset of every generator (e.g. cpu); --quick is --preset quick")
    r.add_argument("--n-synthetic", type=int, default=None, help="synthetic records per job (default: as many as training records)")
    _add_split_arguments(r)
    from bench.splits import SCORE_ON

    r.add_argument("--score-on", choices=SCORE_ON, default=SCORE_ON[0],
                   help="held-out part the metrics score against: test (default, the results) or validation "
                        "(to choose or re-check a default without seeing the test records)")
    r.add_argument("--eval-dataset", default=None,
                   help="score on this dataset instead of the training dataset's test part (transportability): "
                        "one spec for every training dataset, or one per training dataset (comma-separated); "
                        "columns aligned by id; tables label such jobs 'TRAIN → EVAL'")
    r.add_argument("--eval-fill-missing", action="store_true",
                   help="with --eval-dataset: zero-fill training columns the evaluation dataset lacks "
                        "(default: a missing column is an error naming it)")
    r.add_argument("--budget", type=int, default=None,
                   help="equal-budget mode (Lucic et al. 2018): every neural generator stops after this many "
                        "optimiser updates (its max_updates option), recorded in the manifest")
    r.add_argument("--device", default="cpu", help="auto, cpu or cuda (default: cpu)")
    r.add_argument("--out", default=None, help="run directory (default: results/runs/<time>-<config hash>)")
    r.add_argument("--results-dir", default=str(DEFAULT_RESULTS), help="root of run directories (default: results)")
    r.add_argument("--force", action="store_true", help="recompute every job in a new run directory")
    r.add_argument("--save-synthetic", action="store_true", help="also save each job's synthetic records (.npz)")
    r.add_argument("--no-baseline", action="store_true", help="do not add the 'independent' baseline")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--executor", default="local",
                   help="where jobs run: local (one after another in this process; the default), process "
                        "(a child process per job, --jobs at once), ray (Ray tasks on --ray-address, else on "
                        "a local instance; pip install 'ehrbench[ray]')")
    r.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local instance)")
    r.add_argument("--jobs", "-j", type=int, default=1, help="jobs run at once (process and ray executors)")
    r.add_argument("--timeout", type=float, default=None,
                   help="per-job wall-clock limit in seconds (process and ray executors)")
    r.add_argument("--memory-mb", type=float, default=None,
                   help="per-job resident memory cap in MB, the job's processes together (process and ray executors)")

    sub.add_parser("list", help="list generators, datasets and metrics")

    study = sub.add_parser("sampler-study", help="MedDiff's samplers x step budgets: NFE, time, fidelity",
                           description="Train MedDiff once, measure every sampler at several step budgets.")
    from bench.sampler_study import add_arguments as add_sampler_study_arguments

    add_sampler_study_arguments(study)

    lb = sub.add_parser("leaderboard", help="rebuild the committed leaderboard: every generator on eunomia")
    lb.add_argument("--preset", default=None, help="generator preset (default: the published defaults)")
    lb.add_argument("--seeds", "-s", default="0,1,2")
    lb.add_argument("--generators", "-g", default="all")
    lb.add_argument("--datasets", "-d", default="eunomia")
    lb.add_argument("--device", default="cpu", help="auto, cpu or cuda (default: cpu)")
    _add_split_arguments(lb)
    lb.add_argument("--out", default="results", help="where leaderboard.md/.tex go (default: results)")
    lb.add_argument("--no-progress", action="store_true")

    rep = sub.add_parser("report", help="tables (Markdown, CSV, LaTeX), figures and use-case ranking of a run")
    rep.add_argument("run_dir", help="a run directory (results/runs/...)")
    rep.add_argument("--out", default=None, help="output directory (default: RUN_DIR/report)")
    rep.add_argument("--weights", default=None, help="use-case weights TOML (default: the built-in file)")

    cmp_ = sub.add_parser("compare", help="which scores moved between two runs, beyond the seed spread")
    cmp_.add_argument("run_a")
    cmp_.add_argument("run_b")
    cmp_.add_argument("--k", type=float, default=2.0, help="spread multiple that counts as moved (default: 2)")
    cmp_.add_argument("--csv", default=None, help="also write the full comparison to this CSV")
    cmp_.add_argument("--include-speed", action="store_true", help="also compare the speed scores")

    chk = sub.add_parser("check", help="rerun the stored CI grid; fail if a score left its tolerance (docs/ci.md)")
    chk.add_argument("--baseline", default="results/baseline/quick.json")
    chk.add_argument("--update", action="store_true", help="recompute and store the baseline instead")
    chk.add_argument("--reason", default=None, help="with --update (required): why, written into the baseline")
    chk.add_argument("--force", action="store_true", help="with --update: allow uncommitted changes")
    chk.add_argument("--ci-grid", action="store_true",
                     help="with --update: rebuild from ehrbench's CI grid (bench/check/grid.py) instead of the grid "
                          "stored in the baseline (after editing grid.py); the baseline's history is kept")
    chk.add_argument("--generators", "-g", default=None,
                     help="check: only these of the grid (name or full spec); --update: the grid's generators")
    chk.add_argument("--seeds", "-s", default=None,
                     help="check: only these seeds (each generator at those of them it has); --update: every "
                          "generator's seeds")
    chk.add_argument("--more-seeds", action="append", default=None, metavar="GEN@SEEDS",
                     help="with --update: seeds a generator (name or full spec) runs beyond --seeds, e.g. "
                          "'medgan@8,9,10,11,12,13,14,15' for one whose scores spread widely; repeatable")
    chk.add_argument("--datasets", "-d", default=None, help="check: only these; --update: the grid's datasets")
    chk.add_argument("--metrics", "-m", default=None,
                     help="check: only these metric families or scores; --update: the grid's families")
    chk.add_argument("--keep", default=None, help="keep the rerun's run directory under this folder")
    chk.add_argument("--jobs", "-j", type=int, default=None,
                     help="worker processes of one thread each (default: as the baseline ran; 1: in this process); "
                          "a baseline and its check should run alike, since thread counts move float results")
    chk.add_argument("--no-progress", action="store_true")
    return p


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from bench import harness

    preset = "quick" if args.quick else args.preset
    if args.quick and args.preset and args.preset != "quick":
        raise OptionError(f"--quick and --preset {args.preset} contradict each other")
    config = harness.RunConfig(
        generators=harness.parse_generators(args.generators or DEFAULT_GENERATORS, add_baseline=not args.no_baseline),
        datasets=DatasetSpec.parse_list(args.datasets),
        seeds=_int_list("--seeds", args.seeds),
        metrics=_name_list(args.metrics),
        preset=preset,
        n_synthetic=args.n_synthetic,
        split_seed=args.split_seed,
        val_size=args.val_size,
        test_size=args.test_size,
        score_on=args.score_on,
        eval_datasets=DatasetSpec.parse_list(args.eval_dataset) if args.eval_dataset else [],
        eval_fill_missing=args.eval_fill_missing,
        budget=args.budget,
        device=args.device,
        save_synthetic=args.save_synthetic,
    )
    if args.device not in ("auto", "cpu") and not args.device.startswith("cuda"):
        raise OptionError(f"--device must be auto, cpu or cuda, got {args.device!r}")
    from bench.executors import Limits, make_executor

    executor = make_executor(args.executor, jobs=args.jobs, limits=Limits(args.timeout, args.memory_mb),
                             ray_address=args.ray_address)
    prep = harness.prepare(config, data_dir=args.data_dir)  # every check before any file is written
    if args.executor == "process" and args.jobs > 1:
        _warn_oversubscription(args.jobs)
    root = Path(args.results_dir) / "runs"
    if args.out:
        run_dir = Path(args.out)
    elif not args.force and (found := harness.find_resumable(root, config)):
        run_dir = found
        print(f"resuming {run_dir} (same configuration; --force starts afresh)", file=sys.stderr)
    else:
        run_dir = harness.new_run_dir(root, config)
    progress = not args.no_progress and os.environ.get("EHRBENCH_PROGRESS", "1") != "0"
    try:
        harness.run(prep, run_dir, command=["python", "-m", "bench", *argv], force=args.force, progress=progress,
                    executor=executor)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished jobs are kept in {run_dir}; rerun the same command to resume",
              file=sys.stderr)
        return 130
    print((run_dir / "headline.md").read_text(encoding="utf-8"))
    print(_where_the_tables_are(run_dir))
    return 0


def _where_the_tables_are(run_dir: Path) -> str:
    """What follows the headline: where every per-score table is, and how to get the figures."""
    import pandas as pd

    from bench.tables import CATEGORY_ORDER

    lines = []
    if (run_dir / "jobs.csv").is_file():  # a failed job leaves no row in the headline: say so here
        jobs = pd.read_csv(run_dir / "jobs.csv")
        failed = jobs[jobs["status"] != "ok"]
        if len(failed):
            lines.append(f"{len(failed)} of {len(jobs)} jobs failed (their scores are missing above):")
            lines += [f"  {r.generator} on {r.dataset}, seed {r.seed}: {r.error}" for r in failed.itertuples()]
            lines.append("")
    cats = [c for c in CATEGORY_ORDER if (run_dir / "tables" / f"{c}.md").is_file()]
    lines += [f"Full tables in {run_dir}:",
             "  leaderboard.md  every score, below this headline (also leaderboard.csv, leaderboard.tex)"]
    if cats:
        lines.append(f"  tables/         one file per category: {', '.join(f'{c}.md' for c in cats)} (and .tex)")
    lines += ["  scores.csv, timings.csv, jobs.csv  per job",
              f"Figures and the use-case ranking: python -m bench report {run_dir}",
              f"results: {run_dir}"]
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    from bench import datasets
    from generators import registry as gens
    from metrics import registry as mets

    print("generators:")
    for name in gens.available():
        try:
            cls = gens.get_class(name)
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            cond = "conditional" if cls.supports_conditioning is True else "label as column"
            print(f"  {name:<14} {doc} [{cond}]")
        except BenchError as exc:
            print(f"  {name:<14} ({exc})")
    print("datasets:")
    for name, desc in datasets.describe_all():
        print(f"  {name:<16} {desc}")
    print("metrics:")
    for name in mets.available():
        try:
            cls = mets.get_class(name)
            default = "" if cls.default else " (not in the default suite)"
            print(f"  {name:<22} [{cls.category}] {cls.description}{default}")
            for s in cls.scores:
                print(f"      {s.name:<26} {s.goal}")
        except (BenchError, ImportError) as exc:
            print(f"  {name:<22} (unavailable: {exc})")
    return 0


def _warn_oversubscription(jobs: int) -> None:
    """Parallel jobs that each use every core fight over them (measured: 2 jobs of 2 threads on 2
    cores ran the quick grid slower than 1 job). Threads are not changed behind the user's back,
    because a job's numbers may depend on its thread count."""
    import torch

    cores = os.cpu_count() or 1
    threads = torch.get_num_threads()
    if jobs * threads > cores:
        print(f"note: {jobs} jobs x {threads} threads each on {cores} CPUs oversubscribe the cores; "
              f"OMP_NUM_THREADS={max(1, cores // jobs)} gives each job its share (compare scores only "
              "between runs with the same thread count)", file=sys.stderr)


def cmd_leaderboard(args: argparse.Namespace, argv: list[str]) -> int:
    """The committed leaderboard: a resumable run of the grid, then its report copied to --out."""
    import shutil

    from bench import harness
    from bench.report import build_report

    config = harness.RunConfig(generators=harness.parse_generators(args.generators),
                               datasets=DatasetSpec.parse_list(args.datasets),
                               seeds=_int_list("--seeds", args.seeds), preset=args.preset,
                               device=args.device, split_seed=args.split_seed, val_size=args.val_size,
                               test_size=args.test_size)
    prep = harness.prepare(config)
    out = Path(args.out)
    root = out / "runs"
    run_dir = harness.find_resumable(root, config) or harness.new_run_dir(root, config)
    progress = not args.no_progress and os.environ.get("EHRBENCH_PROGRESS", "1") != "0"
    harness.run(prep, run_dir, command=["python", "-m", "bench", *argv], progress=progress)
    report = build_report(run_dir, out / "leaderboard")
    for name in ("headline.md", "leaderboard.md", "leaderboard.tex", "leaderboard.csv", "ranking.md"):
        shutil.copyfile(report / name, out / name)
    print((out / "headline.md").read_text(encoding="utf-8"))
    print(f"leaderboard: {out / 'leaderboard.md'} (headline, then every score; per category in {report}; "
          f"run {run_dir})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import build_report

    out = build_report(Path(args.run_dir), Path(args.out) if args.out else None,
                       Path(args.weights) if args.weights else None)
    print((out / "leaderboard.md").read_text(encoding="utf-8"))
    print((out / "ranking.md").read_text(encoding="utf-8"))
    print(f"report: {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.compare import compare, compare_markdown
    from bench.core.io import write_csv

    a, b = Path(args.run_a), Path(args.run_b)
    df = compare(a, b, k=args.k, include_speed=args.include_speed)
    if args.csv:
        write_csv(Path(args.csv), df)
    print(compare_markdown(df, a, b))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bench.check.command import cmd_check as run_check

    return run_check(args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "leaderboard":
            return cmd_leaderboard(args, argv)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "sampler-study":
            from bench.sampler_study import run_from_args

            return run_from_args(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
