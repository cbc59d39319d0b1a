"""Option checks shared by the GANs: each names the option and what is wrong with it."""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from generators._torch import resolve_device
from generators.base import Generator, check_choice, check_positive

MODES = ("auto", "binary", "count")


def check_non_negative(gen: Generator, *names: str) -> None:
    """A hyperparameter that may be zero (an L2 weight, a penalty) but not negative."""
    for name in names:
        v = getattr(gen, name)
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not v >= 0:
            raise OptionError(f"generator {gen.name!r}: option {name!r} must be a number >= 0, got {v!r}")


def check_dims(gen: Generator, *names: str) -> None:
    """Layer widths: a non-empty tuple of positive integers (written ``256-128`` as an option)."""
    for name in names:
        v = getattr(gen, name)
        ok = isinstance(v, (tuple, list)) and len(v) > 0 and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in v
        )
        if not ok:
            raise OptionError(
                f"generator {gen.name!r}: option {name!r} must be positive layer widths such as "
                f"256-128, got {v!r}"
            )


def check_device(gen: Generator) -> None:
    """Fail before any work when the device is malformed or CUDA is asked for but absent."""
    device = getattr(gen, "device", "cpu")
    if not isinstance(device, str):
        raise OptionError(f"generator {gen.name!r}: option 'device' must be a string, got {device!r}")
    resolve_device(device)


def check_budget(gen: Generator) -> None:
    """``max_updates``: 0 (off: the epochs decide) or a positive number of optimiser updates."""
    v = getattr(gen, "max_updates", 0)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise OptionError(
            f"generator {gen.name!r}: option 'max_updates' must be 0 (off) or a positive number of "
            f"optimiser updates, got {v!r}"
        )


def check_mode(gen: Generator) -> None:
    check_choice(gen, "mode", MODES)


def resolve_mode(gen: Generator, data: EHRDataset) -> str:
    """``auto`` follows the data. A binary model cannot represent counts, so that pairing is an
    error rather than a silent binarisation; a count model on binary data is allowed (its
    samples are clipped to {0, 1}, see :func:`generators.gans._records.to_records`). Drawing
    binary records (the medGAN family's ``binarize='bernoulli'``) needs binary mode."""
    mode = getattr(gen, "mode", "auto")
    if mode == "binary" and data.kind == "count":
        raise OptionError(
            f"generator {gen.name!r}: mode='binary' cannot model count data (dataset {data.name!r}); "
            "use mode=count or mode=auto"
        )
    resolved = data.kind if mode == "auto" else mode
    if getattr(gen, "binarize", "round") == "bernoulli" and resolved != "binary":
        raise OptionError(
            f"generator {gen.name!r}: binarize='bernoulli' draws binary records and needs binary mode "
            f"(this fit runs in {resolved!r} mode); use binarize=round"
        )
    return resolved


def validate_common(gen: Generator, ints: tuple[str, ...], floats: tuple[str, ...]) -> None:
    """The checks every GAN shares: positive integers, positive rates, a usable device, a budget."""
    check_positive(gen, *ints)
    check_positive(gen, *floats, integer=False)
    check_device(gen)
    check_budget(gen)
