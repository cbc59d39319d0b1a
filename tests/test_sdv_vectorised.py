"""The vectorised CTGAN and TVAE pieces compute what the ctgan package's per-column loops compute.

Each piece is checked against the package's own method on a table that mixes every kind of span
the package makes: continuous columns (a ``tanh`` value and a ``softmax`` over its modes),
discrete columns of two and three categories, and a constant column (one category).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

ctgan = pytest.importorskip("ctgan")

from ctgan.data_transformer import DataTransformer  # noqa: E402
from ctgan.synthesizers import tvae as tvae_module  # noqa: E402

from generators.gans import _sdv_vectorised as vec  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def output_info() -> list:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "a": rng.normal(size=n),
        "b": rng.integers(0, 3, n),
        "c": rng.integers(0, 2, n),
        "d": rng.integers(0, 2, n),
        "e": np.zeros(n, dtype=np.int64),
        "f": rng.exponential(size=n),
        "g": rng.integers(0, 2, n),
    })
    transformer = DataTransformer()
    transformer.fit(frame, discrete_columns=["b", "c", "d", "e", "g"])
    return transformer.output_info_list


def _width(info: list) -> int:
    return sum(span.dim for column in info for span in column)


def _package_ctgan(info: list):
    model = ctgan.CTGAN()
    model._transformer = type("T", (), {"output_info_list": info})()
    return model


def test_layout_covers_every_span_once(output_info: list) -> None:
    runs = vec.activation_runs(output_info)
    assert sum(r.width * r.count for r in runs) == _width(output_info)
    assert [r.start for r in runs] == sorted(r.start for r in runs)
    # c and d (two categories each) are one run: consecutive spans of equal width share a call
    assert any(r.activation == "softmax" and r.width == 2 and r.count >= 2 for r in runs)
    discrete = vec.discrete_runs(output_info)
    orders = [r.order_start + i for r in discrete for i in range(r.count)]
    assert orders == list(range(5))  # b, c, d, e, g, in order
    tanh_cols, runs = vec.softmax_runs(output_info)  # every softmax span but e's single category
    assert sum(r.count for r in runs) == 6 and len(tanh_cols) == 2


def test_activation_equals_the_packages_loop(output_info: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the Gumbel noise taken out (a plain tempered softmax in its place) both give the same
    numbers; with it, every one-hot span is a distribution and the tanh columns are unchanged."""
    data = torch.randn(64, _width(output_info), dtype=torch.float64)
    runs = vec.activation_runs(output_info)
    noisy = vec.apply_activate(data, runs)
    package = _package_ctgan(output_info)
    reference = package._apply_activate(data)
    tanh = [s for s, span, _ in vec._spans(output_info) if span.activation_fn == "tanh"]
    assert torch.equal(noisy[:, tanh], reference[:, tanh])
    for run in runs:
        if run.activation == "softmax":
            block = noisy[:, run.start : run.start + run.width * run.count].reshape(64, run.count, run.width)
            assert torch.allclose(block.sum(-1), torch.ones(64, run.count, dtype=torch.float64))

    def tempered(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
        return torch.softmax(logits / tau, dim=dim)

    monkeypatch.setattr(torch.nn.functional, "gumbel_softmax", tempered)
    monkeypatch.setattr(vec, "_gumbel_softmax_once", lambda logits: tempered(logits, tau=vec.GUMBEL_TAU))
    assert torch.allclose(vec.apply_activate(data, runs), package._apply_activate(data), atol=1e-12)


@pytest.mark.parametrize("width", [2, 3])
def test_gumbel_softmax_is_torchs_for_the_same_noise(width: int) -> None:
    """The same draws from the same generator give torch's soft Gumbel softmax at temperature 0.2
    (two categories in closed form, more through the softmax), and nothing else is drawn."""
    logits = torch.randn(50, 7, width, dtype=torch.float64) * 3
    torch.manual_seed(11)
    ours = vec.gumbel_softmax(logits)
    after_ours = torch.rand(2)
    torch.manual_seed(11)
    theirs = torch.nn.functional.gumbel_softmax(logits, tau=0.2, hard=False, dim=-1)
    assert torch.allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert torch.equal(torch.rand(2), after_ours)


def test_conditional_loss_and_its_gradient_equal_the_packages(output_info: list) -> None:
    rng = torch.Generator().manual_seed(1)
    n, width = 40, _width(output_info)
    runs = vec.discrete_runs(output_info)
    n_cond = sum(r.width * r.count for r in runs)
    c = torch.zeros(n, n_cond, dtype=torch.float64)
    m = torch.zeros(n, 5, dtype=torch.float64)
    for i in range(n):  # one chosen category of one chosen discrete column per record
        r = runs[i % len(runs)]
        k = i % r.count
        c[i, r.cond_start + k * r.width + i % r.width] = 1.0
        m[i, r.order_start + k] = 1.0
    data = torch.randn(n, width, dtype=torch.float64, generator=rng, requires_grad=True)
    ours = vec.cond_loss(data, c, m, runs)
    (grad_ours,) = torch.autograd.grad(ours, data)
    theirs = _package_ctgan(output_info)._cond_loss(data, c, m)
    (grad_theirs,) = torch.autograd.grad(theirs, data)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)  # closed form vs log-softmax
    assert torch.allclose(grad_ours, grad_theirs, atol=1e-14)


def test_tvae_loss_and_its_gradient_equal_the_packages(output_info: list) -> None:
    rng = torch.Generator().manual_seed(2)
    n, width = 30, _width(output_info)
    recon = torch.randn(n, width, dtype=torch.float64, generator=rng, requires_grad=True)
    x = torch.rand(n, width, dtype=torch.float64, generator=rng)
    sigmas = (torch.rand(width, dtype=torch.float64, generator=rng) + 0.1).requires_grad_()
    mu, logvar = torch.randn(n, 8, dtype=torch.float64, generator=rng), torch.randn(n, 8, dtype=torch.float64, generator=rng)
    ours = vec.tvae_loss(recon, x, sigmas, mu, logvar, *vec.softmax_runs(output_info), 2.0)
    theirs = tvae_module._loss_function(recon, x, sigmas, mu, logvar, output_info, 2.0)
    for a, b in zip(ours, theirs, strict=True):
        assert a.item() == pytest.approx(b.item(), rel=1e-12)
    g_ours = torch.autograd.grad(ours[0], (recon, sigmas))
    g_theirs = torch.autograd.grad(theirs[0], (recon, sigmas))
    for a, b in zip(g_ours, g_theirs, strict=True):
        assert torch.allclose(a, b, atol=1e-13)


def test_batched_loader_gives_the_packages_batches() -> None:
    """Same seed, same records in the same batches as the default loader, the last one short."""
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.arange(23, dtype=torch.float64).reshape(23, 1) * 1.5)
    torch.manual_seed(5)
    theirs = [b[0] for b in DataLoader(data, batch_size=5, shuffle=True, drop_last=False)]
    after_theirs = torch.rand(3)
    torch.manual_seed(5)
    ours = [b[0] for b in vec.batched_loader(data, batch_size=5, shuffle=True, drop_last=False)]
    assert len(ours) == len(theirs) == 5 and all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert len(ours[-1]) == 3
    assert torch.equal(torch.rand(3), after_theirs)  # the same draws from the global generator


def test_tvae_pieces_are_swapped_only_inside_the_block() -> None:
    original, loader = tvae_module._loss_function, tvae_module.DataLoader
    with vec.vectorised_tvae_loss():
        assert tvae_module._loss_function is not original and tvae_module.DataLoader is vec.batched_loader
    assert tvae_module._loss_function is original and tvae_module.DataLoader is loader
    with pytest.raises(RuntimeError), vec.vectorised_tvae_loss():
        raise RuntimeError("a failed fit")
    assert tvae_module._loss_function is original and tvae_module.DataLoader is loader
