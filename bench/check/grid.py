"""The CI grid: what ``bench check`` reruns when a project guards ehrbench's own generators.

Every option is spelled out, so the check does not move when someone retunes a preset: the grid
is fixed by this file and, once written, by the baseline that stores it.

Why these settings. The grid's job is to notice a generator that got worse, and the regression
that matters most for a generator of patients is losing the relations between codes. A model
that learned no joint structure cannot lose any, so every contestant here must beat
``independent`` (per-code marginals, no structure) on dimension-wise prediction AUROC by at least
``MIN_DWP_LEAD``; at the ``quick`` presets neither MedDiff nor medGAN does (0.49 and 0.52 against
independent's 0.50). Dataset: ``eunomia``, the leaderboard's dataset, whole (2,155 training x 243
codes, binary, label), so the scores guarded are the ones the leaderboard reports, on the same
columns and split. Schedules are shortened, not the architectures:

* MedDiff: the published network shape scaled down (width 128, 2 blocks, 200 diffusion steps,
  its default sampler, DPM-Solver++(2M) on the tuned grid, at 10 calls; DDIM-10 on the uniform
  grid until 2026-12-07) and 60 epochs (~540 optimiser steps) instead of 500; everything else at
  its defaults (cosine schedule, lr 2e-3, batch 256, EMA, classifier-free guidance).
* medGAN: the published networks and optimiser, 50 autoencoder epochs and 60 adversarial epochs
  instead of 100 + 1000 (with 10 autoencoder epochs two seeds in eight learned almost nothing:
  dim-wise AUROC 0.52-0.54, a seed std of 0.058 that the rule excludes).

A second, small dataset guards the label: ``toy:n_records=3000`` (simulated, 24 codes, a label
set by each record's latent group and two codes), on which the label-dependent scores (TSTR,
label fidelity) of a model that conditions on the label are tight enough to check; on eunomia
they are not (``CI_DATASETS``).

The rest of the field runs on part of the grid (``CI_SCOPES``: each generator's seeds, datasets
and metric families), so that guarding it costs what it must and no more. EHR-GPT, which
conditions on the label, runs its ``quick`` schedule on eunomia and the labelled toy set, scored on
dimension-wise prediction, TSTR and label fidelity (eight seeds). The other nine contestants run
on a third dataset, the toy records without their label (``toy:label=false,n_records=3000``),
scored on dimension-wise prediction only (the scores a loss of structure moves; every family more
would widen every tolerance through the Bonferroni share). Without the label the independent
reference samples codes from their marginals alone and knows nothing of the records' latent
groups (dim-wise AUROC 0.50 against the data's 0.83), so a contestant's lead there is the
structure it learned, and with 24 codes their fits are seconds and their seeds agree closely: on
eunomia medWGAN, medBGAN and TVAE spread so widely that the rule needed 12-24 seeds of 12-22 s
fits, CTGAN learned nothing in any schedule CI can afford, and EHRDiff, CorGAN, DPGAN and EMR-WGAN
cost four times what they cost here. Each runs its ``quick`` schedule spelled out, except medBGAN
(12,000 updates: at its quick 4,000 its seeds spread 0.66 ± 0.07) and CTGAN (its published
networks for 150 of its 300 epochs); five seeds where the spread allows, eight where not. DPGAN
runs at noise multiplier 0.1: at its default (2.0) it learns no structure that a regression
could remove, so what is guarded is its network and DP-SGD loop, not its privacy (which its own
tests guard). What eunomia alone exercises (243 sparse codes) is guarded through MedDiff, medGAN
and EHR-GPT. Any contestant the check cannot guard would be named in ``CI_UNGUARDED`` with the
reason; none is.

Measured dim-wise prediction AUROC of the synthetic-trained models, mean of seeds 0-7 (see
docs/ci.md): MedDiff 0.789, medGAN 0.617, independent 0.492. Eight seeds: with the rule's minimum
of five the t quantile (4 degrees of freedom) leaves medGAN's structure scores unchecked; medGAN
gets sixteen (``CI_MORE_SEEDS``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from bench import harness
from bench.core.options import parse_spec_list
from bench.core.threads import thread_budget
from bench.results import load_tables
from metrics import registry as metric_registry

# eunomia guards the structure between codes; its label (GI hemorrhage) is weakly predictable from
# the codes (real-trained AUROC 0.64), so on eunomia no label-dependent score of a CI-schedule
# model can be told from seed noise (every TSTR and label-fidelity score excluded by the rule).
# The simulated toy set's label depends strongly on the codes' latent group: there a model that
# conditions on the label (MedDiff) must reproduce that dependence, and the check guards its
# TSTR and label fidelity; 3,000 records x 24 codes cost a few seconds a job.
# The third, the same simulated records without their label, guards the structure of the nine
# contestants other than MedDiff, medGAN and EHR-GPT (see the module's docstring): with no label,
# independent knows nothing of the latent groups (dim-wise AUROC 0.50 against the real-trained
# 0.83, seeds 0-7), so each one's lead over it is the structure it learned, and 24 codes make
# their fits seconds with seeds that agree closely.
_TOY = "toy:n_records=3000"
_TOY_UNLABELLED = "toy:label=false,n_records=3000"
CI_DATASETS = ("eunomia", _TOY, _TOY_UNLABELLED)
# the datasets that guard the label only: toy's codes are simple enough that independent, which
# samples codes per class, already predicts them well (dim-wise AUROC 0.75), so no contestant's
# lead in structure is asked there
LABEL_ONLY_DATASETS = (_TOY,)
# where a contestant's lead in structure is asked (and checked): eunomia for MedDiff, medGAN and
# EHR-GPT, the unlabelled toy set for the other nine
STRUCTURE_DATASETS = ("eunomia", _TOY_UNLABELLED)
# contestants that condition on the label, and the label scores the check must guard for them there
LABEL_GUARDED = {"meddiff": ("label_fidelity_auroc", "tstr_lr_auroc"), "ehrgpt": ("label_fidelity_auroc", "tstr_lr_auroc")}
CI_GENERATORS = (
    "independent",
    "real-copy",
    "meddiff:timesteps=200,hidden_dim=128,n_blocks=2,time_dim=64,epochs=60,steps=10",
    "medgan:ae_epochs=50,epochs=60",
)
CI_SEEDS = (0, 1, 2, 3, 4, 5, 6, 7)
# Seeds a generator runs beyond CI_SEEDS. medGAN's structure scores spread over seeds (dwpred_auroc_syn
# std about 0.035) far more than MedDiff's, so at eight seeds their bound (t about 7.5) exceeds its
# cap and the check could not see medGAN lose its structure; sixteen seeds narrow the bound to about
# 0.06, under the cap of 0.10, for eight more medGAN fits (about 70 s of CI) rather than eight more
# of every generator.
CI_MORE_SEEDS = {"medgan:ae_epochs=50,epochs=60": tuple(range(8, 16))}
# The rest of the field, each on part of the grid: its seeds, datasets and metric families (see
# the module's docstring). Filled below.
_STRUCTURE = ("dimwise_prediction",)  # what a loss of structure moves (dwpred_auroc_syn and its kin)
_LABEL = ("tstr_lr", "label_fidelity")  # what a loss of conditioning moves
_EIGHT = tuple(CI_SEEDS)
_FIVE = tuple(CI_SEEDS[:5])  # the rule's minimum
_EUNOMIA = ("eunomia",)
_LABELLED = ("eunomia", _TOY)
_UNLABELLED = (_TOY_UNLABELLED,)


def _structure_on_unlabelled(seeds: tuple[int, ...]) -> dict[str, tuple]:
    """The scope of a contestant guarded on the unlabelled toy set: dim-wise prediction there."""
    return {"seeds": seeds, "datasets": _UNLABELLED, "metrics": _STRUCTURE}


CI_SCOPES: dict[str, dict[str, tuple]] = {
    # MedDiff: the whole default suite on eunomia and the labelled toy set (the unlabelled one is
    # for the contestants below; MedDiff's structure is guarded on eunomia)
    "meddiff:timesteps=200,hidden_dim=128,n_blocks=2,time_dim=64,epochs=60,steps=10": {"datasets": _LABELLED},
    # medGAN does not condition on the label: the labelled toy set guards nothing of it
    "medgan:ae_epochs=50,epochs=60": {"datasets": _EUNOMIA},
    "ehrgpt:n_layers=2,d_model=64,n_heads=4,epochs=8,batch_size=32,lr=0.003":
        {"seeds": _EIGHT, "datasets": _LABELLED, "metrics": _STRUCTURE + _LABEL},
    # The rest on the unlabelled toy set, dim-wise prediction only. Measured there (dwpred_auroc_syn,
    # mean and std of seeds 0-7; independent 0.500, real-copy 0.827), fit seconds on one thread
    # beside another job (the baseline's build took up to 1.5 times these):
    # EHRDiff 0.825 ± 0.002 (5 s), EMR-WGAN 0.804 ± 0.008 (10 s), CorGAN 0.826 ± 0.001 (13 s),
    # TVAE 0.819 ± 0.005 (5 s), DPGAN 0.803 ± 0.013 (7 s), medWGAN 0.815 ± 0.012 (7 s) at the
    # quick schedules; medBGAN at 12,000 updates 0.820 ± 0.003 (seeds 0-5, 39 s; at its quick
    # 4,000 it spreads 0.66 ± 0.07, at 10,000 0.80 ± 0.02, at 8,000 with batch 200 0.78 ± 0.03,
    # at 16,000 0.824 ± 0.003 in 51 s; its published schedule takes 108 s); CTGAN at its published
    # networks and batch for 150 of its 300 epochs (the suite's cpu preset) 0.802 ± 0.017 (28-34
    # s; its quick networks learn nothing there, 0.50, and 100 epochs spread too widely for the
    # rule, 0.68 ± 0.02). The ones whose spread allows it run the rule's minimum of five seeds,
    # the others eight.
    # longest fits first within each part, so no worker idles at its end
    "medbgan:ae_epochs=50,epochs=600,batch_size=100,ae_batch_size=50,max_updates=12000":
        _structure_on_unlabelled(_FIVE),
    "corgan:ae_epochs=100,epochs=20,batch_size=32,ae_batch_size=50,d_steps=2,warmup_iterations=0,max_updates=2000":
        _structure_on_unlabelled(_FIVE),
    "emrwgan:epochs=40,batch_size=100,d_steps=2,width=64,lr_g=0.001,lr_d=0.001,max_updates=2000":
        _structure_on_unlabelled(_FIVE),
    "ehrdiff:unit_dims=256-128-128-256,time_dim=128,epochs=60,batch_size=128,warmup_fraction=0.1,lr=0.001,steps=8":
        _structure_on_unlabelled(_FIVE),
    "tvae:epochs=30,batch_size=100,max_updates=1300":
        _structure_on_unlabelled(_FIVE),
    "ctgan:epochs=150":
        _structure_on_unlabelled(_EIGHT),
    "dpgan:noise_multiplier=0.1,epochs=20,d_steps=2,lr=0.001,max_updates=600":
        _structure_on_unlabelled(_EIGHT),
    "medwgan:ae_epochs=20,epochs=60,batch_size=200,ae_batch_size=50,max_updates=2000":
        _structure_on_unlabelled(_EIGHT),
}
# Registered contestants the CI grid does not guard, each with the reason (a test holds this list
# to the registry: every other contestant must be guarded). Empty since every one is.
CI_UNGUARDED: dict[str, str] = {}
CI_METRICS = ()  # the default suite (speed is run but never checked)
# One split for every seed: the check reruns the same seeds, so the split's variance would only
# widen every tolerance without telling a regression from the data's luck.
CI_SPLIT_SEED = 0
MIN_DWP_LEAD = 0.05  # every contestant's dwpred_auroc_syn minus independent's, at least


def ci_scopes() -> dict[str, dict[str, list]]:
    """CI_SCOPES keyed by each generator's label, its seeds, datasets and metric families as lists."""
    return {parse_spec_list(spec)[0].label: {k: list(v) for k, v in scope.items()} for spec, scope in CI_SCOPES.items()}


def ci_more_seeds() -> dict[str, list[int]]:
    """CI_MORE_SEEDS keyed by each generator's label (options sorted, as results name it)."""
    return {parse_spec_list(spec)[0].label: list(seeds) for spec, seeds in CI_MORE_SEEDS.items()}


def ci_config() -> harness.RunConfig:
    """The CI grid as a run configuration (no preset: every departure is an explicit option)."""
    return harness.RunConfig(
        generators=list(dict.fromkeys(s.label for s in parse_spec_list(",".join([*CI_GENERATORS, *CI_SCOPES])))),
        datasets=list(CI_DATASETS),
        seeds=list(CI_SEEDS),
        metrics=list(CI_METRICS), preset=None,
        split_seed=CI_SPLIT_SEED,
    )


REBUILD_COMMAND = 'python -m bench check --update --reason "..."'


Key = tuple[str, str, str]  # (dataset, generator, score)


@dataclass
class GridScores:
    """A grid's rerun as the check and the baseline read it: per (dataset, generator, score) the
    finite value of every seed, the notes of the seeds without one, the score's goal; the jobs
    table (one row per job, its status and error) and the run directories. Taken from the job
    records' long scores table (bench.results.load_tables), never from the rendered tables."""

    values: dict[Key, dict[int, float]]
    notes: dict[Key, str]
    goals: dict[Key, str]
    jobs: pd.DataFrame
    run_dirs: list[Path]

    @property
    def job_errors(self) -> list[str]:
        """``generator / dataset / seed N: error`` of every job that did not finish ok."""
        return [f"{r.generator} / {r.dataset} / seed {r.seed}: {r.error}" for r in self.jobs.itertuples()
                if r.status != "ok"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """This process and the workers it starts at one thread each, then everything as it was
    (:func:`bench.core.threads.thread_budget`; the workers also get a budget of one)."""
    with thread_budget(1):
        yield


def grid_parts(cfg: harness.RunConfig, seeds: dict[str, list[int]],
               scopes: Mapping[str, Mapping[str, list]] | None = None) -> list[harness.RunConfig]:
    """The grid as runs of the harness: one per distinct (seeds, datasets, metric families), each
    with its generators (a run crosses every generator with every seed and dataset). ``scopes``:
    the generators that run on part of ``cfg``'s datasets and metrics (:data:`CI_SCOPES`); one
    whose part of ``cfg`` is empty sits out."""
    scopes = scopes or {}
    families = [m.name for m in metric_registry.resolve(cfg.metrics or None)]
    groups: dict[tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for g in cfg.generator_labels:
        scope = scopes.get(g) or {}
        ds = tuple(d for d in cfg.dataset_labels if d in scope.get("datasets", cfg.dataset_labels))
        ms = tuple(m for m in families if m in scope.get("metrics", families))
        if seeds.get(g) and ds and ms:
            groups.setdefault((tuple(seeds[g]), ds, ms), []).append(g)
    whole = tuple(families)
    return [replace(cfg, generators=gens, seeds=list(ss), datasets=list(ds),
                    metrics=list(cfg.metrics) if ms == whole else list(ms))
            for (ss, ds, ms), gens in groups.items()]


def run_grid(cfg: harness.RunConfig, seeds: dict[str, list[int]], work: Path, progress: bool, jobs: int = 1,
             keep: bool = False, scopes: Mapping[str, Mapping[str, list]] | None = None) -> GridScores:
    """Run a grid afresh into new directories under ``work`` and read its per-seed scores (speed
    left out: it measures the machine) from the job records.

    ``seeds``: each generator's seeds; ``scopes``: the datasets and metric families of the
    generators that run on part of the grid (:func:`grid_parts`). ``jobs`` 1 runs the jobs one after another in this process
    (a monkeypatched fault then reaches them: the mutant tests); above 1, in that many worker
    processes of one thread each (OpenMP, MKL and OpenBLAS pinned before the workers start), so a
    baseline and its check run the same arithmetic whatever the machine's core count. ``keep``:
    the run directories outlive the call, so the harness renders their tables once, at the end;
    otherwise it renders none (nothing reads them: the scores come from the records).
    """
    from bench.executors import Limits, make_executor

    prepared = [harness.prepare(part) for part in grid_parts(cfg, seeds, scopes)]  # every part validated before any work
    score_tables, job_tables, run_dirs = [], [], []
    for prep in prepared:
        executor = make_executor("process", jobs=jobs, limits=Limits(None, None), threads=1) if jobs > 1 else None
        with one_thread() if jobs > 1 else contextlib.nullcontext():
            run_dir = harness.run_new(prep, work, command=["python", "-m", "bench", "check"], force=True,
                                      progress=progress, executor=executor, tables="end" if keep else "none")
        scores, job_table = load_tables(run_dir)
        score_tables.append(scores[scores["category"] != "speed"])
        job_tables.append(job_table)
        run_dirs.append(run_dir)
    return per_seed(pd.concat(score_tables, ignore_index=True), pd.concat(job_tables, ignore_index=True), run_dirs)


def per_seed(scores: pd.DataFrame, jobs: pd.DataFrame, run_dirs: list[Path]) -> GridScores:
    """The long scores table as per-seed values: a value that is missing or not finite is left
    out, and the notes of its rows say why."""
    values: dict[Key, dict[int, float]] = {}
    notes: dict[Key, str] = {}
    goals: dict[Key, str] = {}
    for (ds, gen, score), g in scores.groupby(["dataset", "generator", "score"], sort=True):
        key = (str(ds), str(gen), str(score))
        values[key] = {int(s): float(v) for s, v in zip(g["seed"], g["value"], strict=True)
                       if pd.notna(v) and math.isfinite(float(v))}
        notes[key] = "; ".join(str(n) for n in g.loc[g["value"].isna(), "note"].dropna().unique() if str(n))[:200]
        goals[key] = str(g["goal"].iloc[0])
    return GridScores(values, notes, goals, jobs, run_dirs)
