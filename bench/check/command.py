"""``python -m bench check``: what the subcommand does with its arguments."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench.check.baseline import StaleBaseline, dwp_leads, load_baseline, make_baseline
from bench.check.grid import MIN_DWP_LEAD, ci_config, ci_more_seeds
from bench.check.regress import check, format_moved, select_generators
from bench.check.rule import ANCHORS
from bench.core.errors import OptionError
from bench.core.options import DatasetSpec, GeneratorSpec, parse_ints


def _ints(option: str, text: str) -> list[int]:
    """Comma-separated integers and ranges (``0-9``): the one grammar (bench.core.options.parse_ints)."""
    return parse_ints(text, option)


def _more_seeds(item: str, labels: list[str]) -> dict[str, list[int]]:
    """``GEN@SEEDS`` of ``--more-seeds``: the grid's generators it names (by name or full spec)."""
    gen, sep, seeds = item.rpartition("@")
    if not sep or not gen.strip() or not seeds.strip():
        raise OptionError(f"--more-seeds: expected GEN@SEEDS (e.g. medgan@8,9,10), got {item!r}")
    hit = select_generators(labels, gen.strip(), option="--more-seeds", grid="the grid")
    values = _ints("--more-seeds", seeds)
    if any(v < 0 for v in values) or len(set(values)) != len(values):
        raise OptionError(f"--more-seeds: seeds must be distinct non-negative integers, got {seeds!r}")
    return dict.fromkeys(hit, values)


def update(args: argparse.Namespace, path: Path, progress: bool) -> int:
    from bench import harness

    previous = None
    try:
        previous = load_baseline(path) if path.is_file() else None
        stored = previous is not None and not args.ci_grid
        cfg = previous["_config"] if stored else ci_config()
        more = dict(previous.get("more_seeds") or {}) if stored else ci_more_seeds()
        origin = f"the grid stored in {path}" if stored else "ehrbench's CI grid (bench/check/grid.py)"
    except StaleBaseline:
        cfg, more, origin = ci_config(), ci_more_seeds(), f"ehrbench's CI grid ({path} is of an older format)"
    if args.generators:
        specs = harness.parse_generators(args.generators, add_baseline=False)
        labels = [s.label for s in specs]
        cfg.generators = GeneratorSpec.parse_list(  # the rule's caps need both anchors
            ",".join([*ANCHORS, *(g for g in labels if g not in ANCHORS)]))
        origin += ", generators from --generators"
    if args.seeds:  # every generator's seeds: the grid's extra seeds for some generators go
        cfg.seeds, more = _ints("--seeds", args.seeds), {}
    if args.datasets:
        cfg.datasets = DatasetSpec.parse_list(args.datasets)
    if args.metrics:
        cfg.metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    for item in args.more_seeds or []:
        more.update(_more_seeds(item, cfg.generator_labels))
    more = {g: ss for g, ss in more.items() if g in cfg.generator_labels}
    extra = "".join(f"; {g} also seeds {ss}" for g, ss in more.items())
    print(f"updating {path} from {origin}: {', '.join(cfg.generator_labels)} on {', '.join(cfg.dataset_labels)}, "
          f"seeds {cfg.seeds}{extra}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ehrbench-baseline-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        jobs = args.jobs or int(((previous or {}).get("execution") or {}).get("jobs") or 1)
        base = make_baseline(cfg, path, work, args.reason or "", force=args.force, progress=progress,
                             previous=previous, jobs=jobs, more_seeds=more)
    for (ds, gen), lead in sorted(dwp_leads(base).items()):
        if lead < MIN_DWP_LEAD:
            print(f"note: {gen} leads independent on {ds}'s dwpred_auroc_syn by {lead:.3f} < {MIN_DWP_LEAD}: it "
                  "learned too little joint structure for the check to see it lost; train it longer", file=sys.stderr)
    n = len(base["scores"])
    print(f"baseline {path}: {n - len(base['excluded'])} of {n} scores checked, {len(base['excluded'])} "
          f"excluded by rule (listed in the file); {len(cfg.generators)} generators x {len(cfg.datasets)} "
          f"datasets x {len(cfg.seeds)} seeds{extra}; commit {base['commit']}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.baseline)
    if args.jobs is not None and args.jobs < 1:
        raise OptionError(f"--jobs must be at least 1, got {args.jobs}")
    progress = not args.no_progress and os.environ.get("EHRBENCH_PROGRESS", "1") != "0"
    if args.update:
        return update(args, path, progress)
    if args.reason or args.force or args.ci_grid or args.more_seeds:
        raise OptionError("--reason, --force, --ci-grid and --more-seeds go with --update")
    res = check(path, generators=args.generators, seeds=_ints("--seeds", args.seeds) if args.seeds else None,
                datasets=args.datasets, metrics=args.metrics, work=Path(args.keep) if args.keep else None,
                progress=progress, jobs=args.jobs)
    tail = (f"{res.excluded} excluded by rule (listed in {path})"
            + (f", {len(res.skipped)} too noisy at these seeds" if res.skipped else ""))
    if res.passed:
        print(f"check passed: {res.checked} scores within tolerance of {path} ({res.grid}; {tail})")
        return 0
    print(f"check FAILED: {len(res.moved)} of {res.checked} scores moved beyond their tolerance of {path} "
          f"({res.grid}; {tail})")
    if res.job_errors:
        print("jobs that failed:")
        for e in res.job_errors:
            print(f"  {e}")
    if res.moved:
        print(format_moved(res.moved))
    print(f"run: {res.run_dir}. If the change is intended, commit it and refresh the baseline: "
          f'python -m bench check --update --baseline {path} --reason "..."')
    return 1
