"""``python -m bench``: run the benchmark grid, list what is available, and the tools around it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.errors import BenchError, OptionError

DEFAULT_GENERATORS = "independent,real-copy"
DEFAULT_RESULTS = Path("results")


def _int_list(option: str, text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise OptionError(f"{option}: expected comma-separated integers, got {text!r}") from None


def _name_list(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="ehrbench: benchmark generators of synthetic electronic health records.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="train, sample and score generators x datasets x seeds")
    r.add_argument("--generators", "-g", default=None,
                   help="comma-separated generator specs, options as name:key=value,key=value "
                        f"(default: {DEFAULT_GENERATORS}); 'independent' is always added as the baseline")
    r.add_argument("--datasets", "-d", default="eunomia", help="comma-separated dataset names (default: eunomia)")
    r.add_argument("--data-dir", default=None, help="directory holding a user-supplied dataset's files")
    r.add_argument("--seeds", "-s", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    r.add_argument("--metrics", "-m", default=None, help="comma-separated metric families (default: the default suite)")
    r.add_argument("--quick", action="store_true", help="the 'quick' preset of every generator: small, for smoke runs and CI")
    r.add_argument("--preset", default=None, help="a named preset of every generator (e.g. cpu); --quick is --preset quick")
    r.add_argument("--n-synthetic", type=int, default=None, help="synthetic records per job (default: as many as training records)")
    r.add_argument("--split-seed", type=int, default=0, help="seed of the fixed train/test split (default: 0)")
    r.add_argument("--test-size", type=float, default=0.2, help="held-out fraction (default: 0.2)")
    r.add_argument("--device", default="cpu", help="auto, cpu or cuda (default: cpu)")
    r.add_argument("--out", default=None, help="run directory (default: results/runs/<time>-<config hash>)")
    r.add_argument("--results-dir", default=str(DEFAULT_RESULTS), help="root of run directories (default: results)")
    r.add_argument("--force", action="store_true", help="recompute every job in a new run directory")
    r.add_argument("--save-synthetic", action="store_true", help="also save each job's synthetic records (.npz)")
    r.add_argument("--no-baseline", action="store_true", help="do not add the 'independent' baseline")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--executor", default="local", help="where jobs run: local (default)")
    r.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local instance)")
    r.add_argument("--jobs", "-j", type=int, default=1, help="jobs run at once (parallel executors)")
    r.add_argument("--timeout", type=float, default=None, help="per-job wall-clock limit in seconds")
    r.add_argument("--memory-mb", type=float, default=None, help="per-job resident memory cap in MB")

    sub.add_parser("list", help="list generators, datasets and metrics")
    return p


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from bench import harness

    preset = "quick" if args.quick else args.preset
    if args.quick and args.preset and args.preset != "quick":
        raise OptionError(f"--quick and --preset {args.preset} contradict each other")
    specs = harness.parse_generators(args.generators or DEFAULT_GENERATORS, add_baseline=not args.no_baseline)
    config = harness.RunConfig(
        generators=[s.label for s in specs],
        datasets=_name_list(args.datasets),
        seeds=_int_list("--seeds", args.seeds),
        metrics=_name_list(args.metrics),
        preset=preset,
        n_synthetic=args.n_synthetic,
        split_seed=args.split_seed,
        test_size=args.test_size,
        device=args.device,
        save_synthetic=args.save_synthetic,
    )
    if not config.datasets:
        raise OptionError("--datasets: no dataset named")
    if args.device not in ("auto", "cpu") and not args.device.startswith("cuda"):
        raise OptionError(f"--device must be auto, cpu or cuda, got {args.device!r}")
    from bench.executors import Limits, make_executor

    executor = make_executor(args.executor, jobs=args.jobs, limits=Limits(args.timeout, args.memory_mb),
                             ray_address=args.ray_address)
    prep = harness.prepare(config, data_dir=args.data_dir)  # every check before any file is written
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
    print((run_dir / "leaderboard.md").read_text(encoding="utf-8"))
    print(f"results: {run_dir}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bench import datasets
    from generators import registry as gens
    from metrics import registry as mets

    print("generators:")
    for name in gens.available():
        try:
            cls = gens.get_class(name)
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            cond = "conditional" if getattr(cls, "supports_conditioning", False) is True else "label as column"
            print(f"  {name:<14} {doc} [{cond}]")
        except BenchError as exc:
            print(f"  {name:<14} ({exc})")
    print("datasets:")
    describe = getattr(datasets, "describe_all", None)
    entries = describe() if describe else [(n, datasets.REGISTRY[n].description) for n in datasets.available()]
    for name, desc in entries:
        print(f"  {name:<14} {desc}")
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "list":
            return cmd_list(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
