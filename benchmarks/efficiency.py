"""How much of the machine's matmul rate one optimiser update of each neural generator reaches.

For every neural generator at its ``cpu`` preset on eunomia (the training part of seed 0's split,
2,155 x 243 binary codes plus the label column for the generators that cannot condition on it,
as the harness fits them), the table gives:

* **FLOPs per update**, counted with torch's FLOP formulas (``torch.utils.flop_counter``, the
  table ``FlopCounterMode`` applies) on every operation the update of the generator's own ``fit``
  dispatches (forward, backward, double backward, per-sample gradients: every matrix product,
  convolution and attention kernel, nothing estimated from layer shapes).
  Elementwise work (activations, norms, the optimiser's arithmetic) is not counted: it is what
  the efficiency ratio charges against the update;
* **time per update**, the median over measured rounds of the wall time of one *cycle* of the
  training loop (MedDiff, EHRDiff, EHR-GPT: one update; the GANs: one iteration, ``d_steps``
  critic updates and one generator update; CTGAN: a discriminator and a generator update;
  TVAE: one update), divided by its optimiser updates;
* **achieved FLOP/s** = FLOPs / time of the same rounds;
* **matmul rate**: the same counted operations (same operator, shapes, strides and dtype) replayed
  alone on random tensors, one after the other at the same thread count: the rate this machine
  gets on exactly this arithmetic, which is the most any implementation of the update could
  reach without changing it;
* **efficiency** = achieved / matmul rate, i.e. the share of the update's wall time that its
  counted arithmetic would need on its own. 1 means nothing but the matrix products costs time.

How an update is timed: ``fit`` runs unchanged in a worker thread, and the benchmark pauses it at
every cycle boundary (the generator's own progress report after each update or iteration; for
the ``ctgan`` package's models, which report none, the optimiser step hook after every ``k``
updates). Each advance runs exactly one cycle of the real loop, so what is timed is what a fit
costs, data handling, optimiser, EMA and logging included. FLOPs are counted in a first fit and
the times taken in a second fit with the same seed, which runs the very same cycles (batches of
varying size, as EHR-GPT's length-grouped batches and DPGAN's Poisson samples, pair up exactly);
counting never runs in a timed cycle.

Everything runs on one thread (``torch.set_num_threads(1)``), so that figures are comparable
between generators and fair on a shared machine; the load average is printed beside them. Phase
lengths before the measured one are shortened (``SKIP_AHEAD``: one autoencoder epoch, no CorGAN
warm-up iterations), which changes no shape. Nothing here asserts a time.

    python benchmarks/efficiency.py                       # every neural generator
    python benchmarks/efficiency.py -g meddiff,medgan --json eff.json
    tox -e bench                                          # the same, as a pytest-benchmark suite
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count  # noqa: E402

GENERATORS = ("meddiff", "ehrdiff", "ehrgpt", "medgan", "medwgan", "medbgan", "emrwgan", "corgan", "dpgan",
              "ctgan", "tvae")

#: options that only shorten what runs before the measured phase; no shape changes
SKIP_AHEAD: dict[str, dict[str, Any]] = {
    "medgan": {"ae_epochs": 1},
    "medwgan": {"ae_epochs": 1},
    "medbgan": {"ae_epochs": 1},
    "corgan": {"ae_epochs": 1, "warmup_iterations": 0},
}

#: where a cycle ends: ("progress", unit) at the generator's own progress report of that unit, or
#: ("updates", k) after every k optimiser updates (the ctgan package reports no progress)
BOUNDARY: dict[str, tuple[str, Any]] = {
    "meddiff": ("progress", "update"),
    "ehrdiff": ("progress", "update"),
    "ehrgpt": ("progress", "update"),
    **{g: ("progress", "gan iteration") for g in ("medgan", "medwgan", "medbgan", "emrwgan", "corgan", "dpgan")},
    "ctgan": ("updates", "discriminator_steps+1"),
    "tvae": ("updates", 1),
}

#: why a generator's update is allowed to sit below the goal: the method's own extra work (filled
#: in from what the table measured; see docs/generators.md)
REASONS: dict[str, str] = {
    "dpgan": "DP-SGD: opacus materialises one gradient per record (about 126 x 62,464 numbers for the "
             "critic's first layer alone) and zeroes, scales, copies, measures and clips them every "
             "critic update: memory traffic, not arithmetic (profiled: about three quarters of the update)",
    "tvae": "a small update (0.52 GFLOP: 128-wide networks on batches of 500) whose reconstruction loss is a "
            "softmax cross-entropy per code, 244 one-hot spans on 500 x 488 logits and their gradient, "
            "element-wise work the FLOP count does not see (about 2 ms of its 11-12): it measures 0.51-0.59 on a "
            "quiet machine and dips below 0.5 when the machine slows (docs/generators.md)",
    "ehrgpt": "dropout (p 0.1, the published setting): seven random masks over the activations every update; "
              "drawing them (Bernoulli, one number per activation) is work the FLOP count does not see. The "
              "ehrgpt:dropout=0.0 row, measured in the same run, is the same update without them",
}

#: the same update with the one cost a reason names taken away, measured beside the generator's
#: row so that the reason is a measurement, not a claim (not contestants: no goal applies to them)
WITNESSES: dict[str, str] = {"ehrgpt": "ehrgpt:dropout=0.0"}

#: rows measured in this process (the pytest-benchmark suite prints them at the end)
RESULTS: list[dict[str, Any]] = []
START_LOAD: list[float] | None = None  # the load average when the suite began

GOAL = 0.5


# --------------------------------------------------------------------------------- flop counting
def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_attention_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args,
                                  out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


#: the CPU's fused attention kernels, which torch's table does not list (its formulas for the
#: other attention kernels apply unchanged)
CPU_ATTENTION = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops,
}


def flop_formulas() -> dict[Any, Callable[..., int]]:
    """torch's FLOP formulas (the table ``FlopCounterMode`` applies), CPU attention added.

    The counting itself is :class:`OpRecorder`'s: ``FlopCounterMode`` also tracks modules with
    multi-gradient hooks, which ``torch.autograd.grad`` on a leaf (the gradient penalty) refuses.
    """
    return FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION).flop_registry


@dataclass(frozen=True)
class TensorSpec:
    """What a replay needs to know of an operand: its shape, strides and dtype."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype

    def make(self, gen: torch.Generator) -> torch.Tensor:
        """A tensor of this layout (strides kept, so transposed operands stay transposed)."""
        extent = 1 + sum((s - 1) * st for s, st in zip(self.shape, self.stride, strict=True) if s > 0)
        if any(s == 0 for s in self.shape):
            extent = 0
        if self.dtype.is_floating_point:
            base = torch.randn(extent, generator=gen).to(self.dtype)
        else:
            base = torch.zeros(extent, dtype=self.dtype)
        return base.as_strided(self.shape, self.stride)


def _spec(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return TensorSpec(tuple(x.shape), tuple(x.stride()), x.dtype)
    if isinstance(x, (list, tuple)):
        return tuple(_spec(v) for v in x)
    return x


def _make(x: Any, gen: torch.Generator) -> Any:
    if isinstance(x, TensorSpec):
        return x.make(gen)
    if isinstance(x, tuple):
        return [_make(v, gen) for v in x]
    return x


Signature = tuple[Any, tuple[Any, ...], tuple[tuple[str, Any], ...]]


class OpRecorder(TorchDispatchMode):
    """Counts FLOPs with torch's formulas and records every counted operation (the operator and
    its operands' layouts), so that the same arithmetic can be replayed alone."""

    def __init__(self, registry: dict[Any, Callable[..., int]] | None = None) -> None:
        super().__init__()
        self.registry = flop_formulas() if registry is None else registry
        self.calls: Counter[Signature] = Counter()
        self.flops: dict[Signature, int] = {}

    @property
    def total(self) -> int:
        return sum(self.flops[s] * k for s, k in self.calls.items())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = self.registry.get(func._overloadpacket)
        if formula is not None:
            sig = (func, _spec(args), tuple(sorted((k, _spec(v)) for k, v in kwargs.items())))
            self.calls[sig] += 1
            if sig not in self.flops:
                self.flops[sig] = int(formula(*args, **kwargs, out_val=out))
        return out


def replay_seconds(signatures: Iterable[Signature], min_time: float = 0.02, max_reps: int = 50,
                   seed: int = 0) -> dict[Signature, float]:
    """Median CPU seconds of one call of each recorded operation, run alone on random operands
    (the calling thread's CPU time: see :class:`Cycle`)."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[Signature, float] = {}
    with torch.no_grad():
        for sig in signatures:
            func, args, kwargs = sig
            a, kw = _make(args, gen), {k: _make(v, gen) for k, v in kwargs}
            func(*a, **kw)  # warm-up (and first-touch of the output's memory)
            t0 = time.thread_time()
            func(*a, **kw)
            first = time.thread_time() - t0
            reps = max(3, min(max_reps, math.ceil(min_time / max(first, 1e-7))))
            times = []
            for _ in range(reps):
                t0 = time.thread_time()
                func(*a, **kw)
                times.append(time.thread_time() - t0)
            out[sig] = statistics.median(times)
    return out


# ------------------------------------------------------------------------------------- stepping
class _Stop(BaseException):
    """Ends a fit the benchmark no longer needs (not an Exception: nothing in a fit catches it)."""


@dataclass
class Cycle:
    """One cycle of a training loop: its CPU and wall seconds, optimiser updates and (when
    counted) FLOPs and the counted operations.

    ``seconds`` is the fitting thread's CPU time (user and system, page faults included): with
    one torch thread all of the update's work runs on it, and on a shared machine it leaves out
    the time the neighbours held the core, which wall time (``wall``) counts."""

    seconds: float
    wall: float
    updates: int
    flops: int = 0
    calls: Counter[Signature] = field(default_factory=Counter)


class UpdateStepper:
    """Runs ``fit`` in a worker thread and pauses it at every cycle boundary.

    ``start()`` runs the fit up to the end of its first cycle of the measured phase (setup,
    earlier phases and that first cycle are not measured); each ``advance()`` then runs exactly
    one more cycle and appends a :class:`Cycle` to ``cycles``. With ``count=True`` every cycle
    runs under the FLOP counter and the operation recorder (slower; never timed). ``close()``
    ends the fit. Only optimiser steps taken in the worker thread count.
    """

    def __init__(self, fit: Callable[[], Any], boundary: tuple[str, Any], gen: Any = None,
                 count: bool = False, threads: int = 1) -> None:
        self.fit = fit
        self.kind, self.arg = boundary
        self.gen = gen
        self.count = count
        self.threads = threads
        self.cycles: list[Cycle] = []
        self._resume = threading.Event()
        self._paused = threading.Event()
        self._stop = False
        self._finished = False
        self._error: BaseException | None = None
        self._ident: int | None = None
        self._updates = 0
        self._since = 0  # updates since the last boundary, for ("updates", k)
        self._t0: float | None = None
        self._c0 = 0.0
        self._recorder: OpRecorder | None = None
        self._formulas = flop_formulas() if count else {}
        self._hook = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- worker side
    def _run(self) -> None:
        torch.set_num_threads(self.threads)  # the intra-op pool is per thread under OpenMP
        self._ident = threading.get_ident()
        try:
            self.fit()
        except _Stop:
            pass
        except BaseException as exc:  # handed to the main thread
            self._error = exc
        finally:
            self._end_count()
            self._finished = True
            self._paused.set()

    def _on_step(self, optimizer, args, kwargs) -> None:
        if threading.get_ident() != self._ident:
            return
        self._updates += 1
        if self.kind == "updates":
            self._since += 1
            if self._since >= self.arg:
                self._since = 0
                self._boundary()

    def _on_progress(self, done: int, total: int, unit: str = "epoch") -> None:
        if self.kind == "progress" and unit == self.arg:
            self._boundary()

    def _begin_count(self) -> None:
        self._recorder = OpRecorder(self._formulas)
        self._recorder.__enter__()

    def _end_count(self) -> tuple[int, Counter[Signature]]:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return 0, Counter()
        recorder.__exit__(None, None, None)
        self._last_flops = {**getattr(self, "_last_flops", {}), **recorder.flops}
        return recorder.total, recorder.calls

    def _boundary(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self._t0 is not None:
            flops, calls = self._end_count()
            self.cycles.append(Cycle(cpu - self._c0, now - self._t0, self._updates, flops, calls))
        self._updates = 0
        self._paused.set()
        self._resume.wait()
        self._resume.clear()
        if self._stop:
            raise _Stop
        if self.count:
            self._begin_count()
        self._t0, self._c0 = time.perf_counter(), time.thread_time()

    # ---------------------------------------------------------------- main side
    def start(self) -> UpdateStepper:
        from torch.optim.optimizer import register_optimizer_step_post_hook

        if self.gen is not None and self.kind == "progress":
            self.gen._report_progress = self._on_progress  # shadows the method on this instance
        self._hook = register_optimizer_step_post_hook(self._on_step)
        self._thread = threading.Thread(target=self._run, name="ehrbench-fit", daemon=True)
        self._thread.start()
        self._wait()
        return self

    def _wait(self) -> None:
        self._paused.wait()
        self._paused.clear()
        if self._error is not None:
            raise self._error
        if self._finished:
            raise RuntimeError("the fit ended before the cycles asked for")

    def advance(self) -> Cycle:
        """Run one more cycle; returns it."""
        self._resume.set()
        self._wait()
        return self.cycles[-1]

    def close(self) -> None:
        self._stop = True
        self._resume.set()
        if self._thread is not None:
            self._thread.join()
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self.gen is not None:
            self.gen.__dict__.pop("_report_progress", None)

    @property
    def flops_of(self) -> dict[Signature, int]:
        return getattr(self, "_last_flops", {})


# ------------------------------------------------------------------------------------- one row
def load_train() -> Any:
    """eunomia's training part of seed 0's split (what a job at seed 0 fits on)."""
    from bench.datasets import load

    return load("eunomia").split3(0).train


def build(name: str, seed: int = 0) -> Any:
    """The generator at its ``cpu`` preset, with ``SKIP_AHEAD``'s options on top."""
    from generators import registry

    gen = registry.make(name, random_state=seed, preset="cpu")  # a spec: name or name:key=value,...
    for key, value in SKIP_AHEAD.get(_base(name), {}).items():
        setattr(gen, key, value)
    return gen


def _base(name: str) -> str:
    """The generator's registered name of a spec (``ehrgpt:dropout=0.0`` -> ``ehrgpt``)."""
    return name.partition(":")[0].strip()


def _boundary_for(name: str, gen: Any) -> tuple[str, Any]:
    kind, arg = BOUNDARY[_base(name)]
    if arg == "discriminator_steps+1":
        arg = int(gen.discriminator_steps) + 1
    return kind, arg


def _fit_callable(gen: Any, data: Any) -> Callable[[], Any]:
    """``fit`` as the harness calls it (the label as a column for generators that cannot
    condition on it)."""
    train = data if gen.supports_conditioning or data.y is None else data.with_label_as_column()
    return lambda: gen.fit(train)


@dataclass
class Measurement:
    """Both fits of one generator: the counted one (``counted``) and the timed one (``timed``)."""

    name: str
    data: Any
    min_cycles: int = 8
    budget_s: float = 4.0
    max_cycles: int = 60
    warmup: int = 2
    threads: int = 1
    counted: list[Cycle] = field(default_factory=list)
    stepper: UpdateStepper | None = None
    flops_of: dict[Signature, int] = field(default_factory=dict)

    def count(self) -> None:
        """The first fit: count the FLOPs and operations of as many cycles as the budget allows."""
        gen = build(self.name)
        st = UpdateStepper(_fit_callable(gen, self.data), _boundary_for(self.name, gen), gen, count=True,
                           threads=self.threads).start()
        try:
            t0 = time.perf_counter()
            while len(st.cycles) < self.max_cycles and (
                len(st.cycles) < self.min_cycles + self.warmup or time.perf_counter() - t0 < self.budget_s
            ):
                st.advance()
        finally:
            st.close()
        self.counted = st.cycles
        self.flops_of = st.flops_of

    @property
    def rounds(self) -> int:
        return len(self.counted) - self.warmup

    def start_timed(self) -> UpdateStepper:
        """The second fit, same seed, paused after its warm-up cycles: ``advance`` is what the
        benchmark times, ``rounds`` times."""
        gen = build(self.name)
        self.stepper = UpdateStepper(_fit_callable(gen, self.data), _boundary_for(self.name, gen), gen,
                                     threads=self.threads).start()
        for _ in range(self.warmup):
            self.stepper.advance()
        return self.stepper

    def finish(self) -> dict[str, Any]:
        """Close the timed fit, replay the counted operations alone, and give the table's row."""
        assert self.stepper is not None
        self.stepper.close()
        timed = self.stepper.cycles[self.warmup :]
        counted = self.counted[self.warmup : self.warmup + len(timed)]
        for i, (a, b) in enumerate(zip(counted, timed, strict=True)):
            if a.updates != b.updates:
                raise RuntimeError(f"{self.name}: cycle {i} ran {a.updates} updates counted, {b.updates} timed")
        sigs = set().union(*(c.calls for c in counted))
        alone = replay_seconds(sigs)
        ref = [sum(alone[s] * k for s, k in c.calls.items()) for c in counted]
        updates = [c.updates for c in timed]
        return summarise(self.name, counted, timed, ref, updates)


def summarise(name: str, counted: list[Cycle], timed: list[Cycle], ref_s: list[float],
              updates: list[int]) -> dict[str, Any]:
    """The row: medians over rounds of the per-update time, rates and efficiency."""
    per_update_s = [t.seconds / u for t, u in zip(timed, updates, strict=True)]
    wall_s = [t.wall / u for t, u in zip(timed, updates, strict=True)]
    achieved = [c.flops / t.seconds for c, t in zip(counted, timed, strict=True)]
    rate = [c.flops / r for c, r in zip(counted, ref_s, strict=True) if r > 0]
    eff = [r / t.seconds for r, t in zip(ref_s, timed, strict=True)]
    flops_per_update = sum(c.flops for c in counted) / sum(updates)
    e = statistics.median(eff)
    return {
        "generator": name,
        "updates_per_cycle": statistics.median(updates),
        "rounds": len(timed),
        "gflop_per_update": flops_per_update / 1e9,
        "ms_per_update": 1e3 * statistics.median(per_update_s),
        "wall_ms_per_update": 1e3 * statistics.median(wall_s),
        "achieved_gflops": statistics.median(achieved) / 1e9,
        "matmul_gflops": statistics.median(rate) / 1e9 if rate else float("nan"),
        "efficiency": e,
        "note": ("witness of a stated reason" if name in WITNESSES.values()
                 else "" if e >= GOAL else REASONS.get(name, "below the goal")),
    }


def measure(name: str, data: Any = None, timer: Callable[[Callable[[], Any], int], Any] | None = None,
            **kw: Any) -> dict[str, Any]:
    """One generator's row. ``timer(advance, rounds)`` runs the timed rounds (pytest-benchmark's
    ``pedantic`` in the suite); by default a plain loop."""
    m = Measurement(name, data if data is not None else load_train(), **kw)
    m.count()
    step = m.start_timed()
    try:
        if timer is None:
            for _ in range(m.rounds):
                step.advance()
        else:
            timer(step.advance, m.rounds)
    except BaseException:
        step.close()
        raise
    return m.finish()


# ---------------------------------------------------------------------------------------- table
def machine() -> dict[str, Any]:
    return {
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": len(os.sched_getaffinity(0)),
        "load_avg": [round(v, 2) for v in os.getloadavg()],
        "torch": torch.__version__,
    }


def format_table(rows: list[dict[str, Any]], info: dict[str, Any] | None = None) -> str:
    head = ("| generator | updates / cycle | GFLOP / update | CPU ms / update | wall ms / update | "
            "achieved GFLOP/s | matmul GFLOP/s | efficiency | below 0.5 because |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['generator']} | {r['updates_per_cycle']:g} | {r['gflop_per_update']:.3f} | "
            f"{r['ms_per_update']:.2f} | {r['wall_ms_per_update']:.2f} | {r['achieved_gflops']:.1f} | "
            f"{r['matmul_gflops']:.1f} | "
            f"{r['efficiency']:.2f} | {r['note']} |"
        )
    if info:
        lines.append("")
        lines.append(
            f"{info['threads']} torch thread(s), {info['cpu_capability']}, {info['cpus']} CPUs, torch "
            f"{info['torch']}, load average {info['load_avg']} (at the start) -> "
            f"{info.get('load_avg_end', '?')} (at the end)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-g", "--generators", default=",".join(GENERATORS))
    ap.add_argument("--budget", type=float, default=4.0, help="seconds of counted cycles per generator")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    info = machine()
    data = load_train()
    rows = []
    names = [n.strip() for n in args.generators.split(",") if n.strip()]
    for name in [*names, *(WITNESSES[n] for n in names if n in WITNESSES)]:
        rows.append(measure(name, data, budget_s=args.budget))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    info["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(format_table(rows, info))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
