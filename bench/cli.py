"""``python -m bench``: run the benchmark grid, list what is available, and the tools around it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.core.errors import BenchError, OptionError

# The first run (no -g): the two contestants beside the references (independent is always added),
# at FIRST_RUN_PRESET unless a preset is named: 3 seeds on eunomia in under 3 minutes on 2 cores,
# each contestant learning (dim-wise prediction AUROC well above independent's)
DEFAULT_GENERATORS = "meddiff,medgan,real-copy"
FIRST_RUN_PRESET = "quick"
DEFAULT_RESULTS = Path("results")
# --seeds means one thing in every subcommand: the seeds of the jobs to run, comma-separated; a
# job's seed seeds its model and draws its split (unless --split-seed pins one)
SEEDS_HELP = ("seeds of the jobs to run, comma-separated, ranges as 0-9 (a job's seed seeds its model and its split, "
              "unless a split seed is pinned)")


def _int_list(option: str, text: str) -> list[int]:
    """Comma-separated integers and ranges (``0-9``): the one grammar (bench.core.options.parse_ints)."""
    from bench.core.options import parse_ints

    return parse_ints(text, option)


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
                        f"(default: {DEFAULT_GENERATORS} at the '{FIRST_RUN_PRESET}' preset unless --preset "
                        "names another; 'all': every built-in generator); "
                        "'independent' is always added as the baseline")
    r.add_argument("--datasets", "-d", default="eunomia", help="comma-separated dataset names (default: eunomia)")
    r.add_argument("--data-dir", default=None, help="directory holding a user-supplied dataset's files")
    r.add_argument("--seeds", "-s", default="0,1,2", help=f"{SEEDS_HELP} (default: 0,1,2)")
    r.add_argument("--metrics", "-m", default=None, help="comma-separated metrics (default: the default suite)")
    r.add_argument("--quick", action="store_true",
                   help="the 'quick' preset of every generator: short schedules that still learn, for the first run "
                        "and smoke runs (tables mark them; not for results to cite)")
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
    r.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"),
                   help="compare generator A with B in the verdict printed last (repeatable; labels as in the "
                        "tables, e.g. --pair meddiff medgan; default: meddiff against each peer)")
    r.add_argument("--executor", default="local",
                   help="where jobs run: local (one after another in this process; the default), process "
                        "(a child process per job, --jobs at once), ray (Ray tasks on --ray-address, else on "
                        "a local instance; pip install 'ehrbench[ray]')")
    r.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local instance)")
    r.add_argument("--jobs", "-j", type=int, default=1, help="jobs run at once (process and ray executors)")
    r.add_argument("--threads", type=int, default=None,
                   help="threads each job computes with (torch, OpenMP, BLAS; recorded per job, since float "
                        "results depend on it; default: every core for one job at a time, floor(cores / jobs) "
                        "each with --jobs)")
    r.add_argument("--timeout", type=float, default=None,
                   help="per-job wall-clock limit in seconds (process and ray executors)")
    r.add_argument("--memory-mb", type=float, default=None,
                   help="per-job resident memory cap in MB, the job's processes together (process and ray executors)")

    ls = sub.add_parser("list", help="generators (options, defaults, presets, paper), datasets (options) and metrics "
                                     "(scores, goal, ideal)")
    ls.add_argument("kind", nargs="?", default=None, help="generators, datasets or metrics (default: all three)")
    ls.add_argument("name", nargs="?", default=None, help="one of them, e.g. bench list generators medgan")

    study = sub.add_parser("sampler-study", help="MedDiff's samplers x step budgets: NFE, time, fidelity",
                           description="Train MedDiff once, measure every sampler at several step budgets.")
    from bench.sampler_study import add_arguments as add_sampler_study_arguments

    add_sampler_study_arguments(study)

    # the defaults are bench.leaderboard's GRID_* (not imported here: it loads the harness)
    lb = sub.add_parser("leaderboard", help="build the committed leaderboard: every contestant on eunomia and five "
                        "cohorts of real patients, ten seeds, equal budgets, in parts that merge (results/README.md)",
                        description="Build the leaderboard grid into --out/runs (one resumable run folder) and "
                        "render it into --out/leaderboard; --part DATASET builds one dataset's jobs of the same grid.")
    lb.add_argument("--preset", default=None,
                    help="generator preset (default: cpu; 'none': the published defaults)")
    lb.add_argument("--seeds", "-s", default=None, help=f"{SEEDS_HELP} (default: 0-9)")
    lb.add_argument("--generators", "-g", default="all", help="generator specs (default: all, every registered one)")
    lb.add_argument("--datasets", "-d", default=None,
                    help="the grid's datasets (default: eunomia,flchain,dialysis,smarto,framingham,rhc)")
    lb.add_argument("--part", action="append", default=None, metavar="DATASET",
                    help="build only these datasets' jobs of the grid, in its run folder (repeatable or a comma "
                         "list; default: every dataset, one part after another); parts merge into one leaderboard")
    lb.add_argument("--budget", default=None,
                    help="equal budget: optimiser updates per neural contestant on every dataset (default: 300, "
                         "chosen so a part fits 45 minutes on 2 cores; 'none': each generator's own schedule)")
    lb.add_argument("--published-schedules", default=None, metavar="GENERATORS",
                    help="also build these generators at their published schedules (no preset, no budget) as a "
                         "second grid, rendered into --out/leaderboard-published")
    lb.add_argument("--rerun", default=None, metavar="GENERATORS",
                    help="rebuild only these rows (generator specs as in -g) in each part at the current code, "
                         "keeping every other finished job as it is; for a change that moves only their numbers "
                         "(the manifest records which code built which rows)")
    lb.add_argument("--retire", default=None, metavar="GENERATORS",
                    help="drop these rows (generator specs as in -g) from the leaderboard rendered in --out and run "
                         "nothing: every other row's record is kept as it is and the tables rendered again; -g must "
                         "not name them (the manifest records which rows were retired, and by which code)")
    lb.add_argument("--metrics", "-m", default=None, help="comma-separated metrics (default: the default suite)")
    lb.add_argument("--device", default="cpu", help="auto, cpu or cuda (default: cpu)")
    _add_split_arguments(lb)
    lb.add_argument("--out", default="results",
                    help="where the leaderboard goes: OUT/leaderboard/, OUT/headline.md, ... (default: results)")
    lb.add_argument("--jobs", "-j", type=int, default=1,
                    help="jobs at once, each in its own process with its share of the cores (default: 1, in-process)")
    lb.add_argument("--threads", type=int, default=None,
                    help="threads per job (default: the cores divided among --jobs)")
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
                     help=f"{SEEDS_HELP} (default: the baseline's; a check reruns each generator at those of "
                          "them the baseline holds; --update stores them as every generator's)")
    chk.add_argument("--more-seeds", action="append", default=None, metavar="GEN@SEEDS",
                     help="with --update: seeds a generator (name or full spec) runs beyond --seeds, e.g. "
                          "'medgan@8,9,10,11,12,13,14,15' for one whose scores spread widely; repeatable")
    chk.add_argument("--refresh", default=None, metavar="GENERATORS",
                     help="with --update: rerun only these generators of the stored grid (name or full spec; not "
                          "the anchors) and keep every other generator's values as stored, then apply the rule "
                          "again: for a change that moves only their numbers")
    chk.add_argument("--datasets", "-d", default=None, help="check: only these; --update: the grid's datasets")
    chk.add_argument("--metrics", "-m", default=None,
                     help="check: only these metric families or scores; --update: the grid's families")
    chk.add_argument("--keep", default=None, help="keep the rerun's run directory under this folder")
    chk.add_argument("--save-synthetic", action="store_true",
                     help="with --keep: also save each job's synthetic records there (.npz; never real-copy's), "
                          "e.g. for the mutant tests to score what this rerun sampled instead of fitting again")
    chk.add_argument("--jobs", "-j", type=int, default=None,
                     help="worker processes of one thread each (default: as the baseline ran; 1: in this process); "
                          "a baseline and its check should run alike, since thread counts move float results")
    chk.add_argument("--no-progress", action="store_true")
    return p


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    """A thin layer over the Python API (bench.api): the options become a RunConfig and a
    Benchmark, which checks everything before any data is loaded; then the grid runs."""
    from bench import api

    preset = "quick" if args.quick else args.preset
    if args.quick and args.preset and args.preset != "quick":
        raise OptionError(f"--quick and --preset {args.preset} contradict each other")
    if args.generators is None and preset is None:
        preset = FIRST_RUN_PRESET
        print(f"first run: {DEFAULT_GENERATORS.replace(',', ', ')} at the '{FIRST_RUN_PRESET}' preset (short "
              "schedules, marked in the tables), beside the independent baseline; -g NAMES picks generators, "
              "--preset cpu runs the leaderboard's schedules", file=sys.stderr)
    config = api.configure(
        args.generators or DEFAULT_GENERATORS, args.datasets, seeds=_int_list("--seeds", args.seeds),
        metrics=args.metrics, preset=preset, baseline=not args.no_baseline, n_synthetic=args.n_synthetic,
        split_seed=args.split_seed, val_size=args.val_size, test_size=args.test_size, score_on=args.score_on,
        eval_datasets=args.eval_dataset, eval_fill_missing=args.eval_fill_missing, budget=args.budget,
        device=args.device, save_synthetic=args.save_synthetic,
    )
    # every check before any data is loaded: names, options, presets, executor, output folders
    bench = api.Benchmark(config, out=args.out, results_dir=args.results_dir, force=args.force,
                          data_dir=args.data_dir, executor=args.executor, jobs=args.jobs, threads=args.threads,
                          timeout=args.timeout, memory_mb=args.memory_mb, ray_address=args.ray_address)
    _check_pairs(_pairs(args.pair), config.generator_labels)
    if args.executor != "local" and args.threads:
        _warn_oversubscription(args.jobs, args.threads)
    run_dir = bench.run_dir
    if bench.resumed:
        print(f"resuming {run_dir} (same configuration; --force starts afresh)", file=sys.stderr)
    progress = not args.no_progress and os.environ.get("EHRBENCH_PROGRESS", "1") != "0"
    try:
        bench.run(progress=progress, command=["python", "-m", "bench", *argv])
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished jobs are kept in {run_dir}; rerun the same command to resume",
              file=sys.stderr)
        return 130
    print((run_dir / "headline.md").read_text(encoding="utf-8"))
    print(_where_the_tables_are(run_dir))
    print(_verdict_text(run_dir, _pairs(args.pair)))
    return 0


def _pairs(raw: list[list[str]] | None) -> list[tuple[str, str]] | None:
    """``--pair A B`` (repeatable) as (A, B) tuples; None: the default pairs (bench.verdict)."""
    if not raw:
        return None
    pairs = []
    for a, b in raw:
        if a == b:
            raise OptionError(f"--pair {a} {b}: a generator cannot be compared with itself")
        pairs.append((a, b))
    return pairs


def _check_pairs(pairs: list[tuple[str, str]] | None, labels: list[str]) -> None:
    """Before any work: every generator a --pair names is one of the run's (by its table label)."""
    for a, b in pairs or []:
        for g in (a, b):
            if g not in labels:
                raise OptionError(f"--pair: {g!r} is not a generator of this run (the run has: {', '.join(labels)})")


def _verdict_text(run_dir: Path, pairs: list[tuple[str, str]] | None) -> str:
    """The verdict table of a finished run, printed last (bench.verdict): the named pairs, else
    MedDiff against each peer."""
    from bench.core.io import read_json
    from bench.results import caption, load_tables, run_references, write_verdict

    scores, _ = load_tables(run_dir)
    gens = list(read_json(run_dir / "manifest.json").get("generators", {}))
    return write_verdict(run_dir, scores, run_references(scores, gens), caption(run_dir), pairs)


def _where_the_tables_are(run_dir: Path) -> str:
    """What follows the headline: where every per-score table is, and how to get the figures."""
    from bench.results import read_jobs_csv
    from bench.tables import CATEGORY_ORDER

    lines = []
    if (run_dir / "jobs.csv").is_file():  # a failed job leaves no row in the headline: say so here
        jobs = read_jobs_csv(run_dir / "jobs.csv")
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
    from bench.listing import listing

    print(listing(args.kind, args.name), end="")
    return 0


def _warn_oversubscription(jobs: int, threads: int) -> None:
    """Parallel jobs that together ask for more threads than there are cores fight over them
    (measured: two quick medGAN fits side by side at two threads each took 3x their time alone).
    The default budget never does; an explicit --threads is kept, since a job's numbers may
    depend on its thread count, with a note."""
    from bench.core.threads import usable_cores

    cores = usable_cores()
    if jobs * threads > cores:
        print(f"note: {jobs} jobs x {threads} threads each on {cores} CPUs oversubscribe the cores; "
              f"--threads {max(1, cores // jobs)} gives each job its share (compare scores only "
              "between runs with the same thread count)", file=sys.stderr)


def cmd_leaderboard(args: argparse.Namespace, argv: list[str]) -> int:
    """The committed leaderboard: the grid (bench.leaderboard), built part by part into one
    resumable run folder and rendered into --out after each part."""
    from bench import leaderboard
    from bench.executors import Limits, make_executor

    preset = leaderboard.GRID_PRESET if args.preset is None else None if args.preset == "none" else args.preset
    build = leaderboard.plan(
        args.generators, args.datasets or leaderboard.GRID_DATASETS,
        seeds=_int_list("--seeds", args.seeds or leaderboard.GRID_SEEDS), preset=preset,
        budget=_budget(args.budget, leaderboard.GRID_BUDGET), parts=args.part, published=args.published_schedules,
        rerun=args.rerun, retire=args.retire, out=args.out, metrics=_name_list(args.metrics), device=args.device, split_seed=args.split_seed,
        val_size=args.val_size, test_size=args.test_size)
    kind = "process" if args.jobs > 1 else "local"
    make_executor(kind, jobs=args.jobs, threads=args.threads)  # a bad --jobs / --threads: refused before any work
    progress = not args.no_progress and os.environ.get("EHRBENCH_PROGRESS", "1") != "0"
    try:
        dirs = leaderboard.build(build, lambda: make_executor(kind, jobs=args.jobs, limits=Limits(None, None),
                                                              threads=args.threads),
                                 command=["python", "-m", "bench", *argv], progress=progress)
    except KeyboardInterrupt:
        print("\ninterrupted: finished jobs are kept; the manifest and tables name the missing ones; rerun the "
              "same command to resume", file=sys.stderr)
        return 130
    out = Path(args.out)
    print((out / "headline.md").read_text(encoding="utf-8"))
    for s in build.sessions:
        print(f"part {s['dataset']} ({s['title']}): {s['wall_s']:.0f} s, {s['jobs_run']} jobs run, "
              f"{s['jobs_reused']} reused, {s['jobs_failed']} failed (load {s['load_start']} -> {s['load_end']})")
    print(f"leaderboard: {out / 'leaderboard.md'} (headline, then every score; per category in "
          f"{out / 'leaderboard'}; run {dirs['equal-budget']})")
    return 0


def _budget(text: str | None, default: int) -> int | None:
    """``--budget``: a positive number of optimiser updates, or 'none' (each generator's schedule)."""
    if text is None:
        return default
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise OptionError(f"--budget: expected a number of optimiser updates or 'none', got {text!r}") from None


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
    from bench.core.threads import passive_waiting

    passive_waiting()  # before torch or numpy load OpenMP: idle workers sleep, not spin (bench.core.threads)
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
