"""Every neural generator fitted and sampled on one device, with a learning check.

    python benchmarks/gpu_smoke.py --device cuda      # on a machine with a GPU
    python benchmarks/gpu_smoke.py --device cpu       # the same on the CPU, for comparison

For each generator at its ``quick`` preset on ``eunomia`` (or ``--dataset``): fit on the training
part of one split, sample as many records, and print fit and sample seconds, where the model's
parameters live, whether the output is a valid record matrix, and the Pearson correlation of
per-code prevalences with the training data beside the independent-marginals baseline's (a
generator that learned nothing scores near 0; independent scores near 1 on this marginal-only
check, so the line reports it but the check that matters is validity and device placement). A
generator that raises prints its error and the script goes on; the exit status is the number of
failures. It asserts no wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

import numpy as np

GENERATORS = ("meddiff", "meddiff:sampler=parataa", "meddiff:guidance_scale=2.0", "ehrdiff", "ehrgpt", "medgan",
              "medwgan", "medbgan", "emrwgan", "corgan", "dpgan", "ctgan", "tvae")


def _where(gen) -> str:
    import torch

    devices = set()
    for value in vars(gen).values():
        if isinstance(value, torch.nn.Module):
            devices |= {str(p.device) for p in value.parameters()}
    return ",".join(sorted(devices)) or "n/a"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--dataset", default="eunomia")
    p.add_argument("--preset", default="quick")
    p.add_argument("--generators", default=",".join(GENERATORS))
    args = p.parse_args(argv)

    from bench import datasets
    from generators import registry

    data = datasets.load(args.dataset)
    train = data.split3(seed=0).train
    real = np.asarray(train.X, dtype=float)
    prev = (real > 0).mean(axis=0)
    failures = 0
    print(f"{args.dataset}: {real.shape[0]} x {real.shape[1]} training records; device {args.device}")
    for spec in args.generators.split(";") if ";" in args.generators else args.generators.split(","):
        try:
            gen = registry.make(spec, random_state=0, preset=args.preset, device=args.device)
            t0 = time.perf_counter()
            gen.fit(train)
            t1 = time.perf_counter()
            out = gen.sample(real.shape[0])
            t2 = time.perf_counter()
            X = np.asarray(out[0] if isinstance(out, tuple) else getattr(out, "X", out), dtype=float)
            valid = X.shape == real.shape and bool(np.isfinite(X).all()) and bool((X >= 0).all())
            r = float(np.corrcoef(prev, (X > 0).mean(axis=0))[0, 1]) if X.std() > 0 else float("nan")
            print(f"{spec:<28} fit {t1 - t0:7.1f} s  sample {t2 - t1:6.2f} s  params on {_where(gen):<8} "
                  f"valid {valid}  prevalence r {r:.3f}")
            failures += not valid
        except Exception as exc:  # report and go on: one broken generator must not hide the others
            failures += 1
            print(f"{spec:<28} FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc(limit=3, file=sys.stdout)
    print(f"{failures} failure(s)")
    return failures


if __name__ == "__main__":
    sys.exit(main())
