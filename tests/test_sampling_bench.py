"""The sampling benchmark's paired ratio (benchmarks/sampling.py): each sample of the sampler is
divided by the mean of the reference samples timed just before and just after it, so a machine
that slows down between minutes moves both sides of a ratio together."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # first, before opacus' own top-level ``benchmarks`` package

from benchmarks import sampling  # noqa: E402


def test_each_ratio_is_taken_against_the_reference_samples_beside_it(monkeypatch):
    # the machine halves its speed during the second pair: the reference takes 1 s, then 2 s; the
    # sampler 10 s, then 20 s. The pairs on either side read 10; the one that straddles the change
    # reads 20 against the mean of its neighbours, 1.5. Against the first reference alone the last
    # pair would read 20: the drift, not the sampler.
    clock = iter([1.0, 10.0, 1.0, 20.0, 2.0, 20.0, 2.0])
    monkeypatch.setattr(sampling, "timed", lambda fn, repeats: (next(clock), 0.0, fn()))
    cpu, _, ratios, ref, out = sampling.paired(lambda: "ref", lambda: "records", 3)
    assert ratios == [10.0, 20.0 / 1.5, 10.0]
    assert cpu == 20.0 and out == "records"
    assert ref == 1.5  # the median of the four reference samples: 1, 1, 2, 2
    assert sampling.ratio_text(ratios) == "10 (10-13)"
