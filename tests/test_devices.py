"""Randomness on the right device: what crashed MedDiff on CUDA, caught on a CPU-only machine.

PyTorch refuses a generator of one device for a draw on another (``torch.randperm(n,
generator=cuda_gen)`` draws on the CPU by default and raises). The fake below enforces that
rule for a generator that claims to live on CUDA, so a permutation drawn without the
generator's device fails here as it would on a GPU. The real CUDA path is untested without a GPU.
"""

from __future__ import annotations

import pytest
import torch

import generators._torch as torch_plumbing
from generators._torch import minibatches, torch_generator


class _CudaLikeGenerator:
    """Stands in for a CUDA ``torch.Generator``: only its device matters to the check."""

    device = torch.device("cuda", 0)


def _strict_randperm(real):  # type: ignore[no-untyped-def]
    def randperm(n, *, generator=None, device=None, **kw):  # type: ignore[no-untyped-def]
        want = torch.device(device) if device is not None else torch.device("cpu")
        if generator is not None and generator.device.type != want.type:
            raise RuntimeError(f"Expected a '{want.type}' device type for generator but found '{generator.device.type}'")
        if isinstance(generator, _CudaLikeGenerator):
            return torch.randperm(n)  # the CPU stands in for the GPU's draw
        return real(n, generator=generator, device=device, **kw)

    return randperm


def test_permutations_are_drawn_on_the_generators_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_plumbing.torch, "randperm", _strict_randperm(torch.randperm))
    batches = list(minibatches(10, 4, _CudaLikeGenerator()))  # type: ignore[arg-type]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    cpu = list(minibatches(10, 4, torch_generator(0)))
    assert sorted(torch.cat(cpu).tolist()) == list(range(10))


def test_the_strict_fake_catches_a_draw_without_the_device() -> None:
    strict = _strict_randperm(torch.randperm)
    with pytest.raises(RuntimeError, match="device type for generator"):
        strict(10, generator=_CudaLikeGenerator())


def test_gan_batches_come_from_a_cpu_generator() -> None:
    from generators.gans._loop import random_batch

    idx = random_batch(50, 8, torch_generator(0), torch.device("cpu"))
    assert idx.shape == (8,) and len(set(idx.tolist())) == 8


def test_meddiff_trains_with_its_generator_on_the_training_device() -> None:
    """MedDiff's ``rng_`` lives on the training device and feeds the permutations."""
    from bench.datasets.toy import make_toy
    from generators.meddiff import MedDiff

    gen = MedDiff(epochs=1, hidden_dim=8, n_blocks=1, time_dim=8, timesteps=20, steps=4, random_state=0)
    gen.fit(make_toy(n_records=64, n_codes=6, seed=0))
    assert gen.rng_.device == gen.device_
