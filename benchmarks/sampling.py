"""Sampling cost of MedDiff against medGAN, and what ParaTAA and bfloat16 change (issue 26, part 3).

One MedDiff (``cpu`` preset, i.e. the defaults; ``--updates`` caps its training, which changes
what it generates but not what sampling costs) and one medGAN (the published networks; sampling
cost does not depend on how long it trained, so it trains one epoch) on eunomia's training part
of seed 0's split. On one thread (``torch.set_num_threads(1)``) the script prints:

* seconds per 10,000 records (CPU time of the thread, median of ``--repeats``; wall beside it) of
  medGAN and of MedDiff's default sampler at ``precision=float32`` and ``precision=bfloat16``,
  then of the other samplers (``OTHER_SAMPLERS``: DDIM-20, ten calls, the tuned grid of six, a
  fitted grid of five or six) at the default precision, and their ratio to medGAN. The ratio is taken pair by pair: each
  MedDiff sample is timed between two medGAN samples and divided by their mean, so a machine
  whose speed drifts between minutes (medGAN's 10,000 records took 38-70 ms in separate
  processes on one 2-core EPYC) moves both sides of a ratio together; the median ratio is
  printed with its range over the pairs;
* the arithmetic floor: the counted FLOPs of one MedDiff network call per record times the NFE,
  over the rate of the same matrix products run alone, so how far any implementation of this
  sampler could go;
* ParaTAA against sequential DDIM-20 on the same trajectory (same noise, same labels): sequential
  NFE, total NFE, iterations, seconds, and whether the two give the same records and scores
  (dimension-wise probability r against the training part, dimension-wise prediction AUROC on
  the test part);
* float32 against bfloat16 on the same noise: the share of entries that differ, and the same scores.

    python benchmarks/sampling.py                 # full cpu-preset training (~2 minutes)
    python benchmarks/sampling.py --updates 300   # a quick look

Figures only; nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

#: the other samplers timed beside the default, at its precision: (sampler, steps, spacing)
OTHER_SAMPLERS = (("ddim", 20, "uniform"), ("ddim", 10, "uniform"), ("dpmpp2m", 10, "uniform"),
                  ("dpmpp2m", 6, "tuned"), ("dpmpp2m", 6, "fitted"), ("dpmpp2m", 5, "fitted"))


def sampler_label(name: str, steps: int, spacing: str) -> str:
    return f"{name}-{steps}" + ("" if spacing == "uniform" else f", {spacing} grid")


def timed(fn, repeats: int) -> tuple[float, float, Any]:
    """Median CPU and wall seconds of ``fn()`` over ``repeats`` calls, and its last result."""
    cpu, wall, out = [], [], None
    for _ in range(repeats):
        c, w = time.thread_time(), time.perf_counter()
        out = fn()
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), out


def paired(ref, fn, repeats: int) -> tuple[float, float, list[float], float, Any]:
    """``fn``'s median CPU seconds, its wall seconds, and its ratio to ``ref`` pair by pair: each
    call of ``fn`` is timed between two calls of ``ref`` and divided by their mean CPU time (the
    machine's drift between minutes then moves both sides of a ratio together). Returns the
    median CPU and wall seconds of ``fn``, the ratios, the median CPU seconds of ``ref`` over
    those calls (what any other ratio of the same moment should divide by), and ``fn``'s last
    result."""
    cpu, wall, ratios, out = [], [], [], None
    refs = [timed(ref, 1)[0]]
    for _ in range(repeats):
        c, w, out = timed(fn, 1)
        refs.append(timed(ref, 1)[0])
        cpu.append(c)
        wall.append(w)
        ratios.append(c / ((refs[-2] + refs[-1]) / 2))
    return statistics.median(cpu), statistics.median(wall), ratios, statistics.median(refs), out


def ratio_text(ratios: list[float]) -> str:
    """The median of the per-pair ratios and their range."""
    return f"{statistics.median(ratios):.0f} ({min(ratios):.0f}-{max(ratios):.0f})"


def scores(train: Any, test: Any, X: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    from metrics.base import SyntheticData
    from metrics.fidelity import DimensionWiseProbability
    from metrics.prediction import DimensionWisePrediction

    syn = SyntheticData(X=X, y=y)
    out = DimensionWiseProbability(random_state=0).compute(train, test, syn)
    out.update(DimensionWisePrediction(random_state=0).compute(train, test, syn))
    return {"dwp_pearson_r": float(out["dwp_pearson_r"]), "dwpred_auroc_syn": float(out["dwpred_auroc_syn"])}


def floor_seconds(gen: Any, n: int, nfe: float) -> dict[str, float]:
    """The matrix products of ``nfe`` network calls on ``n`` records, run alone: the time no
    implementation of this sampler can beat at this precision."""
    from benchmarks.efficiency import OpRecorder, replay_seconds

    batch = min(gen.sample_batch, n)
    x = torch.randn(1, batch, gen.n_codes_)
    labels = torch.zeros(batch, dtype=torch.long) if gen.mode_ != "none" else None
    fn = gen.eps_fn(labels)
    t = torch.tensor([gen.timesteps // 2])
    with OpRecorder() as rec:  # eps_fn runs at the generator's precision
        fn(x, t)
    alone = replay_seconds(rec.calls)
    per_call = sum(alone[s] * k for s, k in rec.calls.items())
    calls = nfe * n / batch
    return {"gflop": rec.total * calls / 1e9, "floor_s": per_call * calls}


def run(updates: int, repeats: int, n: int, n_parataa: int) -> dict[str, Any]:
    from bench.datasets import load
    from generators import registry

    torch.set_num_threads(1)
    split = load("eunomia").split3(0)
    train, test = split.train, split.test
    out: dict[str, Any] = {"load_avg_start": [round(v, 2) for v in os.getloadavg()], "n": n, "threads": 1,
                           "cpu_capability": torch.backends.cpu.get_cpu_capability()}

    medgan = registry.make("medgan", random_state=0, preset="cpu")
    medgan.ae_epochs, medgan.epochs = 1, 1
    medgan.fit(train.with_label_as_column())
    medgan.sample(n)
    c, w, _ = timed(lambda: medgan.sample(n), max(repeats, 5))
    out["medgan"] = {"cpu_s": c, "wall_s": w}

    meddiff = registry.make("meddiff", random_state=0, preset="cpu")
    if updates:
        meddiff.max_updates = updates
    t0 = time.perf_counter()
    meddiff.fit(train)
    out["meddiff_fit_s"] = time.perf_counter() - t0
    from generators.meddiff.samplers import sampler_setup

    default = sampler_label(meddiff.sampler, *sampler_setup(meddiff.sampler, meddiff.steps, meddiff.spacing))
    rows: dict[str, Any] = {}
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for precision in ("float32", "bfloat16"):
        meddiff.precision = precision

        def draw() -> tuple[np.ndarray, np.ndarray]:
            meddiff.reseed(1)
            return meddiff.sample(n)

        draw()  # warm-up
        c, w, ratios, medgan_s, (X, y) = paired(lambda: medgan.sample(n), draw, repeats)
        samples[precision] = (X, y)
        rows[precision] = {"cpu_s": c, "wall_s": w, "ratio_to_medgan": statistics.median(ratios),
                           "ratios_to_medgan": ratios, "medgan_cpu_s": medgan_s,
                           **floor_seconds(meddiff, n, meddiff.diagnostics()["nfe"]),
                           **scores(train, test, X, y)}
        # the floor against medGAN's time of the same minutes (the pairs'), not the one at the start
        rows[precision]["floor_ratio_to_medgan"] = rows[precision]["floor_s"] / medgan_s
    (a, _), (b, _) = samples["float32"], samples["bfloat16"]
    rows["bfloat16"]["entries_differing_from_float32"] = float((a != b).mean())
    rows["bfloat16"]["records_differing_from_float32"] = float((a != b).any(axis=1).mean())
    out["meddiff_default"] = rows
    out["default_sampler"] = default

    # the other samplers, at the default precision: what each costs in fidelity is the validation
    # study's question (docs/generators.md); here, the time. A grid is fitted before the timing
    # (it is part of training: the generator fits its own in ``fit``)
    meddiff.precision = "auto"
    fast: dict[str, Any] = {}
    for name, steps, spacing in OTHER_SAMPLERS:
        if sampler_label(name, steps, spacing) == default:
            continue
        smp = meddiff.make_sampler(name, steps, spacing=spacing)

        def draw_fast(smp=smp) -> tuple[np.ndarray, np.ndarray]:
            meddiff.reseed(1)
            return meddiff.sample(n, sampler=smp)

        draw_fast()
        c, w, ratios, _, _ = paired(lambda: medgan.sample(n), draw_fast, repeats)
        fast[sampler_label(name, steps, spacing)] = {
            "cpu_s": c, "wall_s": w, "ratio_to_medgan": statistics.median(ratios), "ratios_to_medgan": ratios}
    out["meddiff_other_samplers"] = fast

    para: dict[str, Any] = {}
    for precision in ("float32", "bfloat16"):
        meddiff.precision = precision
        per: dict[str, Any] = {}
        for name in ("ddim", "parataa"):  # ParaTAA solves DDIM-20's trajectory
            smp = meddiff.make_sampler(name, 20, spacing="uniform")

            def draw(smp=smp) -> tuple[np.ndarray, np.ndarray]:
                meddiff.reseed(1)
                return meddiff.sample(n_parataa, sampler=smp)

            c, w, (X, y) = timed(draw, 1)
            d = meddiff.diagnostics()
            per[name] = {"cpu_s": c, "wall_s": w, "nfe": d["nfe"], "nfe_total": d["nfe_total"],
                         "iterations": d.get("iterations", d["nfe"]), "X": X, "y": y}
        Xd, Xp = per["ddim"].pop("X"), per["parataa"].pop("X")
        yd, yp = per["ddim"].pop("y"), per["parataa"].pop("y")
        per["entries_differing"] = float((Xd != Xp).mean())
        per["records_differing"] = float((Xd != Xp).any(axis=1).mean())
        per["labels_equal"] = bool(np.array_equal(yd, yp))
        per["ddim_scores"] = scores(train, test, Xd, yd)
        per["parataa_scores"] = scores(train, test, Xp, yp)
        per["cost_ratio"] = per["parataa"]["cpu_s"] / per["ddim"]["cpu_s"]
        para[precision] = per
    out["parataa_vs_ddim"] = {"n": n_parataa, **para}
    out["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    return out


def report(r: dict[str, Any]) -> str:
    n = r["n"]
    g = r["medgan"]
    lines = [f"Seconds per {n:,} records, one thread (CPU time; wall in brackets), "
             f"{r['cpu_capability']}, load {r['load_avg_start']} -> {r['load_avg_end']}:", "",
             "| sampler | s / 10k records | records / s | x medGAN (paired; range) | GFLOP | matmul floor s | "
             "floor x medGAN |",
             "|---|---|---|---|---|---|---|",
             f"| medGAN | {g['cpu_s']:.3f} ({g['wall_s']:.3f}) | {n / g['cpu_s']:,.0f} | 1 | | | |"]
    for p, row in r["meddiff_default"].items():
        lines.append(f"| MedDiff {r['default_sampler']} (the default), {p} | {row['cpu_s']:.2f} ({row['wall_s']:.2f}) | {n / row['cpu_s']:,.0f} | "
                     f"{ratio_text(row['ratios_to_medgan'])} | {row['gflop']:.0f} | {row['floor_s']:.2f} | "
                     f"{row['floor_ratio_to_medgan']:.0f} |")
    for name, row in r.get("meddiff_other_samplers", {}).items():
        lines.append(f"| MedDiff {name}, auto | {row['cpu_s']:.2f} ({row['wall_s']:.2f}) | "
                     f"{n / row['cpu_s']:,.0f} | {ratio_text(row['ratios_to_medgan'])} | | | |")
    b = r["meddiff_default"]["bfloat16"]
    f = r["meddiff_default"]["float32"]
    lines += ["", f"The matrix products alone run at {f['gflop'] / f['floor_s']:.0f} GFLOP/s in float32 and "
                  f"{b['gflop'] / b['floor_s']:.0f} GFLOP/s in bfloat16 (one thread). medGAN's 10,000 records "
                  f"took {1000 * g['cpu_s']:.0f} ms at the start and {1000 * f['medgan_cpu_s']:.0f} / "
                  f"{1000 * b['medgan_cpu_s']:.0f} ms within the float32 / bfloat16 pairs (the floor's ratio "
                  "divides by the latter)."]
    lines += ["", f"bfloat16 against float32, same noise: {100 * b['entries_differing_from_float32']:.3f} % of "
                  f"entries and {100 * b['records_differing_from_float32']:.1f} % of records differ; "
                  f"dwp r {f['dwp_pearson_r']:.4f} / {b['dwp_pearson_r']:.4f}, dim-wise prediction AUROC "
                  f"{f['dwpred_auroc_syn']:.4f} / {b['dwpred_auroc_syn']:.4f}", ""]
    pv = r["parataa_vs_ddim"]
    lines += [f"ParaTAA against DDIM-20 on the same trajectory ({pv['n']:,} records):", "",
              "| precision | sampler | sequential NFE | total NFE | iterations | CPU s | wall s |",
              "|---|---|---|---|---|---|---|"]
    for p in ("float32", "bfloat16"):
        for s in ("ddim", "parataa"):
            x = pv[p][s]
            lines.append(f"| {p} | {s} | {x['nfe']:.0f} | {x['nfe_total']:.1f} | {x['iterations']:.0f} | "
                         f"{x['cpu_s']:.2f} | {x['wall_s']:.2f} |")
    for p in ("float32", "bfloat16"):
        x = pv[p]
        lines.append(f"\n{p}: ParaTAA costs {x['cost_ratio']:.1f}x DDIM's CPU time; "
                     f"{100 * x['entries_differing']:.4f} % of entries ({100 * x['records_differing']:.2f} % of "
                     f"records) differ, labels equal: {x['labels_equal']}; scores DDIM {x['ddim_scores']} "
                     f"ParaTAA {x['parataa_scores']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=0, help="cap MedDiff's training (0: the cpu preset's)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--n-parataa", type=int, default=2_155, help="records for ParaTAA against DDIM")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    r = run(args.updates, args.repeats, args.n, args.n_parataa)
    print(report(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
