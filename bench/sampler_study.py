"""Sampler study: one trained MedDiff, every sampler at several step budgets, cost against fidelity.

For each (sampler, step budget) the study records the network evaluations per record (NFE, both
sequential-equivalent and total), wall time, records per second, and fidelity against the real
training records: the dimension-wise probability r (Pearson r of per-code prevalences) and the
detection AUROC of gradient-boosted trees telling real from synthetic (cross-validated; 0.5 is
indistinguishable), both computed by the benchmark's own metrics (``dimwise_probability``,
``detection``). Every sampler starts from the same noise and the same labels (common random
numbers), so differences between rows are the samplers', not the sampling noise's.

Writes ``sampler_study.csv`` and ``sampler_study.png`` (fidelity against NFE) into ``out_dir``.
Run it as ``python -m bench sampler-study --out DIR`` (``--quick`` for a smoke run).

To choose or re-check a default, score on the validation part instead (``--score-on
validation``: the training part of each seed's three-way split is fitted, the dimension-wise
prediction AUROC is measured on the validation part, the test part is never read) over several
seeds and datasets (``--seeds 0-4 --dataset eunomia,dialysis``): every (dataset, seed) is one
trained model and one block, and ``sampler_study_paired.csv`` gives each sampler's paired
difference from ``--baseline`` (default: DDIM-20, the fitted grids' teacher) over the blocks, with the
number of blocks where it is higher and a Wilcoxon signed-rank p-value.

``--spacings uniform,quadratic,logsnr`` also runs every sampler and budget on grids spread
otherwise than evenly (``generators.meddiff.schedule.NoiseSchedule.grid``); each spacing is its own
row and its own pair against the baseline, which is always on the uniform grid. ``fitted`` fits,
for each sequential sampler under 20 steps, the grid that best reproduces the model's own DDIM-20
records (``generators.meddiff.grid_fit``; the search is not part of the timed sampling).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.core.data import EHRDataset
from bench.core.errors import BenchError, OptionError
from bench.core.options import parse_ints

DEFAULT_SAMPLERS = ("ancestral", "ddim", "dpmpp2m", "parataa")
DEFAULT_BUDGETS = (5, 10, 20, 50, 100)
QUICK_BUDGETS = (5, 10)


SCORE_ON = ("train", "validation")
#: the scores the paired summary compares, and which way is better
PAIRED_SCORES = {"dwpred_auroc": "higher", "detection_auroc": "lower", "dwp_r": "higher"}


def _fidelity(train: EHRDataset, test: EHRDataset, X: np.ndarray, seed: int, trees: int = 100,
              held_out: EHRDataset | None = None) -> dict[str, float]:
    """The benchmark's own metrics on one sample: the dimension-wise probability (r and APD) and
    the detection AUROC (``trees`` trees; the benchmark uses 100), both against the training
    records as in the harness; with ``held_out`` also the dimension-wise prediction AUROC
    (classifiers fitted on the synthetic records, scored on ``held_out``)."""
    from metrics.base import SyntheticData
    from metrics.detection import Detection
    from metrics.fidelity import DimensionWiseProbability

    synthetic = SyntheticData(X=X, y=None)
    dwp = DimensionWiseProbability(random_state=seed).compute(train, test, synthetic)
    detection = Detection(random_state=seed, n_estimators=trees).compute(train, test, synthetic)
    out = {"dwp_r": dwp["dwp_pearson_r"], "dwp_apd": dwp["dwp_apd"], "detection_auroc": detection["detection_auroc"]}
    if held_out is not None:
        from metrics.prediction import DimensionWisePrediction

        out["dwpred_auroc"] = DimensionWisePrediction(random_state=seed).compute(train, held_out, synthetic)[
            "dwpred_auroc_syn"]
    return out


def _load(dataset: str | EHRDataset, seed: int, score_on: str = "train") -> tuple[EHRDataset, EHRDataset]:
    """(training records, held-out records): the two-way split, or with ``score_on='validation'``
    the training and validation parts of the three-way split the harness draws for ``seed``."""
    if not isinstance(dataset, EHRDataset):
        from bench import datasets

        dataset = datasets.load(dataset)
    if score_on == "validation":
        parts = dataset.split3(seed=seed)
        return parts.train, parts.validation
    return dataset.split(seed=seed)


def run_sampler_study(
    out_dir: str | Path,
    dataset: str | EHRDataset = "eunomia",
    samplers: Sequence[str] = DEFAULT_SAMPLERS,
    budgets: Sequence[int] | None = None,
    n_samples: int | None = None,
    seed: int = 0,
    quick: bool = False,
    params: dict[str, Any] | None = None,
    reference: bool = True,
    model: Any = None,
    score_on: str = "train",
    spacings: Sequence[str] = ("uniform",),
) -> pd.DataFrame:
    """Train MedDiff once on ``dataset``'s training split and measure every sampler at every budget.

    ``budgets`` are step counts (``steps`` of the sampler; the NFE columns say what each cost).
    ``reference`` adds the ``T``-step ancestral sampler, the quality the accelerated samplers
    must reach, and the real held-out records as the noise floor of the fidelity metrics.
    ``n_samples`` defaults to the size of the training split (so detection compares equal sets).
    ``quick`` uses the ``quick`` preset of MedDiff, two small budgets and a smaller detection model.
    ``params`` override MedDiff's hyperparameters (after the preset). ``model``: an already fitted
    MedDiff (trained on the same split) to study instead of training one. ``score_on``:
    ``train`` (fidelity against the training records only) or ``validation`` (the training part
    of the three-way split is fitted, and the dimension-wise prediction AUROC on the validation
    part is added; see the module docstring). ``spacings``: the grids every (sampler, budget)
    runs on (``uniform``, ``quadratic``, ``logsnr``, ``tuned``, ``fitted``); the table's ``spacing`` column says which.
    """
    from generators import registry
    from generators.meddiff.grid_fit import SPACING_CHOICES, fittable
    from generators.meddiff.samplers import SAMPLERS

    unknown = [s for s in samplers if s not in SAMPLERS]
    if unknown:
        raise OptionError(f"sampler study: unknown sampler(s) {unknown}; valid: {', '.join(SAMPLERS)}")
    bad_spacing = [s for s in spacings if s not in SPACING_CHOICES]
    if not spacings or bad_spacing:
        raise OptionError(f"sampler study: unknown spacing(s) {bad_spacing or list(spacings)}; "
                          f"valid: {', '.join(SPACING_CHOICES)}")
    if budgets is None:
        budgets = QUICK_BUDGETS if quick else DEFAULT_BUDGETS
    if not budgets or any(int(b) <= 0 for b in budgets):
        raise OptionError(f"sampler study: step budgets must be positive integers, got {list(budgets)}")
    if score_on not in SCORE_ON:
        raise OptionError(f"sampler study: --score-on must be one of {', '.join(SCORE_ON)}, got {score_on!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, test = _load(dataset, seed, score_on)
    held_out = test if score_on == "validation" else None
    n = int(n_samples or train.n_records)
    if n <= 0:
        raise OptionError(f"sampler study: n_samples must be positive, got {n_samples}")

    if model is None:  # built the one way every generator is: defaults < preset < options, validated
        gen = registry.make("meddiff", random_state=seed, preset="quick" if quick else None, **(params or {}))
    else:
        gen = model
    T = gen.timesteps
    trees = 30 if quick else 100  # detection model size: quick runs only smoke-test the pipeline
    bad = [b for b in budgets if int(b) > T]
    if bad:
        raise OptionError(f"sampler study: budgets {bad} exceed the number of diffusion steps T={T}")
    fit_s = float("nan")
    if model is None:
        t0 = time.perf_counter()
        gen.fit(train)
        fit_s = time.perf_counter() - t0
    labels = None
    if train.y is not None and gen.mode_ != "none":
        labels = np.random.default_rng(seed).permutation(np.resize(train.y, n))

    runs: list[tuple[str, int, str, str]] = [(s, int(b), sp, "") for sp in spacings for s in samplers
                                             for b in budgets if sp != "fitted" or fittable(s, int(b), T)]
    if reference and ("ancestral", T, "uniform", "") not in runs:
        runs.append(("ancestral", T, "uniform", "reference"))
    rows: list[dict[str, Any]] = []
    for name, steps, spacing, role in runs:
        sampler = gen.make_sampler(name, steps, spacing=spacing)
        gen.reseed(seed)  # the same noise and labels for every sampler
        t1 = time.perf_counter()
        X, _ = gen.sample(n, labels=labels, sampler=sampler)
        wall = time.perf_counter() - t1
        diag = gen.diagnostics()
        rows.append(
            {
                "sampler": name,
                "steps": steps,
                "spacing": spacing,
                "role": role or ("reference" if name == "ancestral" and steps == T and spacing == "uniform" else ""),
                "nfe": diag.get("nfe", float("nan")),
                "nfe_total": diag.get("nfe_total", float("nan")),
                "iterations": diag.get("iterations", float("nan")),
                "converged": diag.get("converged", float("nan")),
                "wall_s": wall,
                "samples_per_s": n / wall if wall > 0 else float("inf"),
                **_fidelity(train, test, X, seed, trees, held_out),
                "n_samples": n,
                "fit_s": fit_s,
            }
        )
    if reference:
        rows.append(
            {"sampler": "real-heldout", "steps": 0, "spacing": "", "role": "noise floor",
             **_fidelity(train, test, test.X, seed, trees, held_out),
             "n_samples": test.n_records, "fit_s": float("nan")}
        )
    df = pd.DataFrame(rows)
    ref = df[(df["sampler"] == "ancestral") & (df["steps"] == T)]
    if not ref.empty:
        df["dwp_r_vs_ancestral"] = df["dwp_r"] - float(ref["dwp_r"].iloc[0])
        df["detection_vs_ancestral"] = df["detection_auroc"] - float(ref["detection_auroc"].iloc[0])
    df.to_csv(out / "sampler_study.csv", index=False)
    plot_study(df, out / "sampler_study.png", title=f"MedDiff samplers on {train.name} (n={n}, T={T})")
    return df


def plot_study(df: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Fidelity against NFE: one line per sampler, ParaTAA also at its total evaluations
    (hollow markers), the T-step ancestral sampler and the real held-out records as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    runs = df[df["sampler"] != "real-heldout"]
    ref = runs[runs["role"] == "reference"]
    floor = df[df["sampler"] == "real-heldout"]
    for ax, col, label in (
        (axes[0], "dwp_r", "dimension-wise probability r (higher is better)"),
        (axes[1], "detection_auroc", "detection AUROC (0.5 is best)"),
    ):
        for name, grp in runs[runs["role"] != "reference"].groupby("sampler", sort=False):
            grp = grp.sort_values("nfe")
            line = ax.plot(grp["nfe"], grp[col], marker="o", label=f"{name} (sequential NFE)")[0]
            if name == "parataa":
                ax.plot(grp["nfe_total"], grp[col], marker="o", mfc="none", ls=":", color=line.get_color(),
                        label="parataa (total NFE)")
        if not ref.empty:
            ax.axhline(float(ref[col].iloc[0]), color="k", ls="--", lw=1,
                       label=f"ancestral, {int(ref['steps'].iloc[0])} steps")
        if not floor.empty:
            ax.axhline(float(floor[col].iloc[0]), color="grey", ls=":", lw=1, label="real held-out")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("network evaluations per record (NFE)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def paired_summary(df: pd.DataFrame, baseline: tuple[str, int]) -> pd.DataFrame:
    """Each (sampler, steps, spacing) against ``baseline`` (on the uniform grid) over the blocks
    (dataset, seed) of ``df``: per
    score of :data:`PAIRED_SCORES`, the mean paired difference (sampler minus baseline), the
    number of blocks where it is higher, and the two-sided Wilcoxon signed-rank p-value (nan
    below 2 blocks or when every difference is zero). Every sampler of a block shares the
    trained model and the noise, so the pairs differ only by the sampler."""
    from scipy.stats import wilcoxon

    runs = df[~df["sampler"].isin(["real-heldout"]) & (df["role"] != "reference")].copy()
    if "spacing" not in runs.columns:  # a table from before spacings were studied: all uniform
        runs["spacing"] = "uniform"
    keys = ["dataset", "seed"]
    base = runs[(runs["sampler"] == baseline[0]) & (runs["steps"] == baseline[1])
                & (runs["spacing"] == "uniform")].set_index(keys)
    if base.empty:
        raise OptionError(f"sampler study: the baseline {baseline[0]}-{baseline[1]} is not among the samplers "
                          "and budgets run; add it to --samplers and --budgets")
    rows = []
    for (name, steps, spacing), grp in runs.groupby(["sampler", "steps", "spacing"], sort=False):
        if (name, steps, spacing) == (*baseline, "uniform"):
            continue
        row: dict[str, Any] = {"sampler": name, "steps": steps, "spacing": spacing,
                               "baseline": f"{baseline[0]}-{baseline[1]}",
                               "nfe_total": float(grp["nfe_total"].mean()),
                               "wall_ratio": float((grp.set_index(keys)["wall_s"] / base["wall_s"]).mean())}
        for score, better in PAIRED_SCORES.items():
            if score not in grp.columns or score not in base.columns:
                continue
            diff = (grp.set_index(keys)[score] - base[score]).dropna()
            p = float("nan")
            if len(diff) >= 2 and (diff != 0).any():
                p = float(wilcoxon(diff).pvalue)
            row.update({f"{score}_diff": float(diff.mean()), f"{score}_higher": int((diff > 0).sum()),
                        f"{score}_blocks": len(diff), f"{score}_p": p, f"{score}_better": better})
        rows.append(row)
    return pd.DataFrame(rows)


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``sampler-study`` subcommand's options (the CLI's subparser and :func:`main` share them)."""
    p.add_argument("--out", default="results/sampler_study", help="output directory")
    p.add_argument("--dataset", default="eunomia", help="dataset, or several comma-separated (one block each per seed)")
    p.add_argument("--samplers", default=",".join(DEFAULT_SAMPLERS), help="comma-separated sampler names")
    p.add_argument("--spacings", default="uniform",
                   help="comma-separated timestep spacings every sampler and budget runs on: uniform (the "
                        "default grid), quadratic, logsnr, tuned (a fixed grid tuned for six calls), fitted (the grid "
                        "that best reproduces DDIM-20's records on "
                        "this model: generators.meddiff.grid_fit; ddim and dpmpp2m under 20 steps only)")
    p.add_argument("--budgets", type=_ints, default=None,
                   help=f"comma-separated step budgets (default {DEFAULT_BUDGETS}; quick {QUICK_BUDGETS})")
    p.add_argument("--n-samples", type=int, default=None, help="records per sampler (default: training size)")
    p.add_argument("--seed", type=int, default=0, help="the seed of the one model trained and of its split")
    p.add_argument("--seeds", default=None,
                   help="several seeds, comma-separated, ranges as 0-4: one trained model and split each (replaces --seed)")
    p.add_argument("--score-on", choices=SCORE_ON, default="train",
                   help="train: fidelity against the training records; validation: fit the three-way split's "
                        "training part, add the dimension-wise prediction AUROC on its validation part")
    p.add_argument("--max-updates", type=int, default=None,
                   help="train MedDiff for this many optimiser updates (the leaderboard's equal budget is 300)")
    p.add_argument("--baseline", default=None,
                   help="SAMPLER-STEPS (uniform grid) the paired summary compares against (default: ddim-20, the "
                        "trajectory a fitted grid reproduces)")
    p.add_argument("--quick", action="store_true", help="tiny model and budgets, for smoke runs")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-reference", action="store_true", help="skip the T-step ancestral reference")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the study from parsed options; a BenchError propagates (the CLI reports it, exit 2)."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    seeds = parse_ints(args.seeds, "--seeds") if args.seeds else [args.seed]
    names = [d.strip() for d in args.dataset.split(",") if d.strip()]
    if not names:
        raise OptionError("sampler study: --dataset names no dataset")
    baseline = _baseline(args.baseline)
    params = {} if args.max_updates is None else {"max_updates": args.max_updates}
    out = Path(args.out)
    fmt = {"float_format": lambda v: "nan" if math.isnan(v) else f"{v:.4g}", "index": False}
    blocks = []
    for name in names:
        for seed in seeds:
            where = out if len(names) == 1 and len(seeds) == 1 else out / name / f"seed{seed}"
            df = run_sampler_study(
                where, dataset=name, samplers=[s.strip() for s in args.samplers.split(",") if s.strip()],
                budgets=args.budgets, n_samples=args.n_samples, seed=seed, quick=args.quick,
                reference=not args.no_reference, params=params, score_on=args.score_on,
                spacings=[s.strip() for s in args.spacings.split(",") if s.strip()],
            )
            blocks.append(df.assign(dataset=name, seed=seed))
            cols = [c for c in ("sampler", "steps", "spacing", "nfe", "nfe_total", "wall_s", "samples_per_s", "dwp_r",
                                "detection_auroc", "dwpred_auroc") if c in df.columns]
            with pd.option_context("display.width", 160, "display.max_columns", 20):
                print(f"{name}, seed {seed} (scored on {args.score_on}):")
                print(df[cols].to_string(**fmt))
            print(f"wrote {where / 'sampler_study.csv'} and {where / 'sampler_study.png'}")
    if len(blocks) > 1:
        whole = pd.concat(blocks, ignore_index=True)
        whole.to_csv(out / "sampler_study_all.csv", index=False)
        summary = paired_summary(whole, baseline)
        summary.to_csv(out / "sampler_study_paired.csv", index=False)
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(f"paired over {len(blocks)} blocks (dataset x seed), sampler minus {baseline[0]}-{baseline[1]}:")
            print(summary.to_string(**fmt))
        print(f"wrote {out / 'sampler_study_all.csv'} and {out / 'sampler_study_paired.csv'}")
    return 0


def _baseline(text: str | None) -> tuple[str, int]:
    """``SAMPLER-STEPS`` (e.g. ``ddim-20``); None: DDIM-20 on the uniform grid, the trajectory a
    fitted grid reproduces (the teacher of :mod:`generators.meddiff.grid_fit`) and so the one every
    few-step sampler is judged against."""
    if text is None:
        from generators.meddiff.grid_fit import TEACHER_STEPS

        return "ddim", TEACHER_STEPS
    name, _, steps = text.rpartition("-")
    if not name or not steps.isdigit() or int(steps) <= 0:
        raise OptionError(f"sampler study: --baseline must be SAMPLER-STEPS (e.g. ddim-20), got {text!r}")
    return name, int(steps)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.sampler_study``: the same as ``python -m bench sampler-study``."""
    p = argparse.ArgumentParser(prog="sampler-study", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_from_args(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
