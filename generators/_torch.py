"""Torch plumbing shared by the neural generators: device, seeding, batches, divergence checks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from bench.core.errors import OptionError, TrainingDiverged


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError(f"device {device!r} requested but no CUDA device is available")
    if device != "cpu" and not device.startswith("cuda"):
        raise OptionError(f"device must be auto, cpu or cuda[:N], got {device!r}")
    return torch.device(device)


def torch_generator(random_state: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A private RNG for one model, so results do not depend on what ran before."""
    g = torch.Generator(device=device)
    g.manual_seed(0 if random_state is None else int(random_state))
    return g


def minibatches(
    n: int, batch_size: int, gen: torch.Generator, drop_last: bool = False
) -> Iterator[torch.Tensor]:
    """Shuffled index batches for one epoch, on the generator's own device.

    PyTorch draws a permutation on the device it is asked for (the CPU by default) and refuses
    a generator of another device, so the permutation is drawn where ``gen`` lives (a CUDA
    generator gives CUDA indices, a CPU one CPU indices); callers move indices to the data.
    """
    perm = torch.randperm(n, generator=gen, device=gen.device)
    stop = n - (n % batch_size) if drop_last and n >= batch_size else n
    for s in range(0, stop, batch_size):
        yield perm[s : s + batch_size]


def check_finite(generator: str, epoch: int, **losses: float) -> None:
    """End the job with a clear error when any loss is NaN or infinite."""
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        raise TrainingDiverged(
            f"generator {generator!r}: non-finite loss at epoch {epoch}: "
            + ", ".join(f"{k}={v}" for k, v in bad.items())
        )


def to_tensor(X: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=device)


def warmup_cosine(warmup: int, total: int):
    """Learning-rate factor of a linear warm-up over ``warmup`` updates, then a half cosine to 0 at
    ``total`` (the schedule of ``transformers.get_cosine_schedule_with_warmup``). A warm-up longer
    than the run never reaches the peak, as in the published code."""

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))

    return factor


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero while training, then restore torch's default.

    An L2 penalty shrinks the weights of codes that never fire geometrically towards zero; once
    they are subnormal every multiply through them takes a slow path on x86. Measured on eunomia
    (medGAN, ``cpu`` preset, one thread): without this the adversarial phase slows from 13 s to
    180 s per 200 iterations as 10,000 weights go subnormal (fit 708 s); with it, 137 s. Values
    below 1.2e-38 carry no signal, so the fitted model is the same up to those.
    """
    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)


#: ``precision`` of a generator's network while sampling: ``auto`` is bfloat16 where the CPU
#: multiplies bfloat16 in hardware, float32 elsewhere (CUDA included)
PRECISIONS = ("auto", "float32", "bfloat16")


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX tiles).

    Elsewhere bfloat16 costs digits and saves nothing. Measured here (a 2048 x 256 x 512 product,
    one thread) with oneDNN capped by ``ONEDNN_MAX_CPU_ISA``: native 456 GFLOP/s against float32's
    78; AVX512_CORE (emulated) 76 against 77; AVX2 2 against 70."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def inference_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the matrix products of sampling run in under ``precision`` (see PRECISIONS)."""
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cpu" and native_bf16():
        return torch.bfloat16
    return torch.float32


def inference_autocast(dtype: torch.dtype, device: torch.device):
    """Autocast to ``dtype`` (a no-op context for float32): linear layers multiply in bfloat16
    with float32 accumulation, while norms, softmax and whatever the caller keeps in float32
    (residual streams, the sampler's state) stay in float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)
