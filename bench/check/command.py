"""``python -m bench check``: what the subcommand does with its arguments, and :func:`check`, the
check itself, walked once down the modules:

    command (the options)  ->  baseline (the file read)  ->  the part named (here)
      ->  rule (what it expects of that part: means and tolerances on the seeds compared)
      ->  grid (the part rerun by the harness; per-seed values from the job records)
      ->  regress (the comparison, its result and table)  ->  command (printed)

No module is called back into once it was left, and no table is rendered for a rerun that is
thrown away (with ``--keep`` the harness renders the kept runs' tables once, at the end).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.check.baseline import StaleBaseline, dwp_leads, load_baseline, make_baseline
from bench.check.grid import LABEL_ONLY_DATASETS, MIN_DWP_LEAD, ci_config, ci_more_seeds, ci_scopes, run_grid
from bench.check.regress import CheckResult, compare
from bench.check.rule import ANCHORS, expect
from bench.core.errors import OptionError
from bench.core.options import DatasetSpec, GeneratorSpec, parse_ints, parse_spec_list
from metrics import registry as metric_registry


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
        scopes = dict(previous.get("_scopes") or {}) if stored else ci_scopes()
        origin = f"the grid stored in {path}" if stored else "ehrbench's CI grid (bench/check/grid.py)"
    except StaleBaseline:
        cfg, more, scopes = ci_config(), ci_more_seeds(), ci_scopes()
        origin = f"ehrbench's CI grid ({path} is of an older format)"
    refresh = None
    if args.refresh:
        if previous is None or args.ci_grid or args.generators or args.seeds or args.datasets or args.metrics \
                or args.more_seeds:
            raise OptionError("--refresh keeps the stored baseline's grid and reruns only the generators it names: "
                              "it needs a stored baseline and goes without --ci-grid, --generators, --seeds, "
                              "--datasets, --metrics and --more-seeds")
        refresh = select_generators(cfg.generator_labels, args.refresh, option="--refresh", grid="the stored grid")
        anchors = [g for g in refresh if g in ANCHORS]
        if anchors:
            raise OptionError(f"--refresh: {anchors[0]!r} is an anchor of every score's cap; refreshing it moves the "
                              "rule for every generator: rebuild the whole baseline (--update without --refresh)")
        origin += f", rerunning only {', '.join(refresh)}"
    if args.generators:
        specs = harness.parse_generators(args.generators, add_baseline=False)
        labels = [s.label for s in specs]
        cfg.generators = GeneratorSpec.parse_list(  # the rule's caps need both anchors
            ",".join([*ANCHORS, *(g for g in labels if g not in ANCHORS)]))
        origin += ", generators from --generators"
    if args.seeds:  # every generator's seeds: the grid's extra seeds and scoped seeds go
        cfg.seeds, more = _ints("--seeds", args.seeds), {}
        scopes = {g: {k: v for k, v in sc.items() if k != "seeds"} for g, sc in scopes.items()}
    if args.datasets:
        cfg.datasets = DatasetSpec.parse_list(args.datasets)
    if args.metrics:
        cfg.metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    scopes = _narrow_scopes(cfg, scopes)
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
                             previous=previous, jobs=jobs, more_seeds=more, keep=bool(args.keep), scopes=scopes,
                             refresh=refresh)
    for (ds, gen), lead in sorted(dwp_leads(base).items()):
        if lead < MIN_DWP_LEAD and ds not in LABEL_ONLY_DATASETS:
            print(f"note: {gen} leads independent on {ds}'s dwpred_auroc_syn by {lead:.3f} < {MIN_DWP_LEAD}: it "
                  "learned too little joint structure for the check to see it lost; train it longer", file=sys.stderr)
    n = len(base["scores"])
    print(f"baseline {path}: {n - len(base['excluded'])} of {n} scores checked, {len(base['excluded'])} "
          f"excluded by rule (listed in the file); {len(cfg.generators)} generators x {len(cfg.datasets)} "
          f"datasets x {len(cfg.seeds)} seeds{extra}; commit {base['commit']}")
    return 0


def _narrow_scopes(cfg, scopes: dict[str, dict[str, list]]) -> dict[str, dict[str, list]]:
    """The scopes of the generators still in ``cfg``, each cut to ``cfg``'s datasets and metric
    families; a generator left with none of them leaves the grid."""
    families = [m.name for m in metric_registry.resolve(cfg.metrics or None)]
    out = {}
    for g, scope in scopes.items():
        if g not in cfg.generator_labels:
            continue
        cut = dict(scope)
        if "datasets" in cut:
            cut["datasets"] = [d for d in cut["datasets"] if d in cfg.dataset_labels]
        if "metrics" in cut:
            cut["metrics"] = [m for m in cut["metrics"] if m in families]
        if all(cut.get(k, True) for k in ("datasets", "metrics")):
            out[g] = cut
        else:
            cfg.generators = [s for s in cfg.generators if s.label != g]
    return out


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.baseline)
    if args.jobs is not None and args.jobs < 1:
        raise OptionError(f"--jobs must be at least 1, got {args.jobs}")
    progress = not args.no_progress and os.environ.get("EHRBENCH_PROGRESS", "1") != "0"
    if args.update:
        return update(args, path, progress)
    if args.reason or args.force or args.ci_grid or args.more_seeds or args.refresh:
        raise OptionError("--reason, --force, --ci-grid, --more-seeds and --refresh go with --update")
    if args.save_synthetic and not args.keep:
        raise OptionError("--save-synthetic needs --keep DIR: the records are saved in the kept run directories")
    res = check(path, generators=args.generators, seeds=_ints("--seeds", args.seeds) if args.seeds else None,
                datasets=args.datasets, metrics=args.metrics, work=Path(args.keep) if args.keep else None,
                progress=progress, jobs=args.jobs, save_synthetic=args.save_synthetic)
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
        print(res.table)
    print(f"run: {res.run_dir}. If the change is intended, commit it and refresh the baseline: "
          f'python -m bench check --update --baseline {path} --reason "..."')
    return 1


def check(path: Path, generators: str | None = None, seeds: list[int] | None = None,
          datasets: str | None = None, metrics: str | None = None, work: Path | None = None,
          progress: bool = True, jobs: int | None = None, save_synthetic: bool = False) -> CheckResult:
    """Rerun the baseline's grid, or the part named, and compare with the rule's tolerances.

    ``jobs``: worker processes (one thread each); None reruns the grid as the baseline ran it,
    1 runs it in this process (where a test's monkeypatched fault reaches the jobs). ``work``: where
    the rerun's run directories go and stay (default: a temporary directory); ``save_synthetic``
    (with ``work``): each job's records saved there too (``synthetic/<job id>.npz``), so that the
    mutant tests can score what this rerun sampled (``tests/mutants.py``) instead of fitting the
    same models again."""
    base = load_baseline(path)
    if jobs is None:
        jobs = int((base.get("execution") or {}).get("jobs") or 1)
    cfg = base["_config"]
    gens = select_generators(cfg.generator_labels, generators)
    stored: dict[str, list[int]] = base["_seeds"]
    if seeds:
        every = sorted({s for g in gens for s in stored[g]})
        unknown = sorted(set(seeds) - set(every))
        if unknown:
            raise OptionError(f"--seeds: {unknown} not in the baseline's seeds {every}"
                              + (f" (of {', '.join(gens)})" if generators else ""))
    # each generator at its own seeds, or at those of them asked for; one without any of them sits out
    own = {g: [s for s in (seeds or stored[g]) if s in stored[g]] for g in gens}
    own = {g: ss for g, ss in own.items() if ss}
    gens = [g for g in gens if g in own]
    dsets = _select_datasets(cfg.dataset_labels, datasets)
    families, only = _select_metrics(cfg.metrics, metrics)
    wanted = [e for e in base["_entries"]
              if e.generator in gens and e.dataset in dsets and (only is None or e.metric in only)]
    # a generator that runs on part of the grid (its scope) sits out where none of its scores is asked
    gens = [g for g in gens if any(e.generator == g for e in wanted)]
    own = {g: own[g] for g in gens}
    sub = replace(cfg, generators=gens, datasets=dsets, seeds=sorted({s for ss in own.values() for s in ss}),
                  metrics=families, save_synthetic=save_synthetic and work is not None)
    expected = expect(wanted, own, base["_rule"])
    if not expected.usable:
        raise OptionError(f"nothing to check: none of the {len(wanted)} selected scores of {path} is checked by the "
                          f"rule at these seeds ({expected.excluded} excluded in the baseline, "
                          f"{len(expected.skipped)} too noisy at these seeds); select more seeds or other scores")
    with tempfile.TemporaryDirectory(prefix="ehrbench-check-") as tmp:
        now = run_grid(sub, own, work or Path(tmp), progress, jobs, keep=work is not None, scopes=base["_scopes"])
    return compare(expected, now, grid=_describe_grid(gens, dsets, own),
                   run_dir=", ".join(str(d) for d in now.run_dirs) if work else "(temporary)")


def select_generators(stored: list[str], wanted: str | None, option: str = "--generators",
                      grid: str = "the baseline's grid") -> list[str]:
    """Canonical labels (options sorted, as results name them) of the stored generators named,
    each by its name or its full spec; a name outside ``grid`` is an error of ``option``."""
    stored = [s.label for s in parse_spec_list(",".join(stored))]
    if not wanted:
        return stored
    chosen = []
    for token in (s.label for s in parse_spec_list(wanted)):
        hit = [g for g in stored if g == token or g.partition(":")[0] == token]
        if not hit:
            raise OptionError(f"{option}: {token!r} is not in {grid}; its generators: " + ", ".join(stored))
        chosen += [g for g in hit if g not in chosen]
    return chosen


def _select_datasets(stored: list[str], wanted: str | None) -> list[str]:
    if not wanted:
        return list(stored)
    chosen = []
    for spec in DatasetSpec.parse_list(wanted):
        hit = [d for d in stored if d == spec.label or (not spec.options and d.partition(":")[0] == spec.name)]
        if not hit:
            raise OptionError(f"--datasets: {spec.label!r} is not in the baseline's grid; its datasets: "
                              + ", ".join(stored))
        chosen += [d for d in hit if d not in chosen]
    return chosen


def _select_metrics(stored: list[str], wanted: str | None) -> tuple[list[str], set[str] | None]:
    """Families to run and, when score names were given, the scores to compare."""
    if not wanted:
        return list(stored), None
    families: list[str] = []
    scores: set[str] = set()
    owner = {s.name: cls.name for cls in metric_registry.resolve(stored or None) for s in cls.scores}
    whole = set()
    for token in (t.strip() for t in wanted.split(",") if t.strip()):
        if token in owner.values():
            fam = token
            whole.add(fam)
        elif token in owner:
            fam = owner[token]
            scores.add(token)
        else:
            raise OptionError(f"--metrics: {token!r} is neither a metric family nor a score of the baseline's "
                              f"grid; families: {', '.join(sorted(set(owner.values())))}")
        if fam not in families:
            families.append(fam)
    return families, scores | {s for s, fam in owner.items() if fam in whole}


def _describe_grid(gens: list[str], dsets: list[str], seeds: dict[str, list[int]]) -> str:
    """``N generators x M datasets x seeds [...]``, and the generators that run other seeds."""
    common = max((seeds[g] for g in gens), key=lambda ss: sum(seeds[g] == ss for g in gens))
    others = [f"{g}: seeds {_span(seeds[g])}" for g in gens if seeds[g] != common]
    return f"{len(gens)} generators x {len(dsets)} datasets x seeds {common}" + (f" ({'; '.join(others)})" if others
                                                                                 else "")


def _span(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2 else str(seeds)
