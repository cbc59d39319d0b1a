"""Vectorised replacements for the ``ctgan`` package's per-column loops (CTGAN and TVAE).

Imported only where the package is (``generators.gans.sdv`` checks for it first).

The package handles each column of its table in a Python loop every update: CTGAN draws one
Gumbel softmax per discrete column for the generator's output and one cross-entropy per discrete
column for the conditional loss; TVAE one cross-entropy (and one arg-max) per column for its
reconstruction loss. On EHR data every code is a discrete column, so an update of eunomia's 244
columns built about 2,000 autograd nodes on 500 x 2 slices, and the backward pass over them, not
the network's matrix products, set the update's cost (profiled: efficiency 0.37 for CTGAN, 0.15
for TVAE; docs/generators.md).

Here the spans are grouped once per fit into runs of adjacent spans of one activation and width
(on eunomia 9 runs), and each run is one batched call on a view of its columns. The mathematics
is the package's, column for column: the same activations, temperatures, targets, masks and
reductions. What differs is the order of floating-point sums and the Gumbel noise: the package
draws one noise tensor per column, this code one per run, from the same generator, so a fit is
a different draw from the same distribution, not the same numbers
(``tests/test_sdv_vectorised.py`` checks each piece against the package's loop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from ctgan import CTGAN
from ctgan.synthesizers import tvae as tvae_module
from torch.nn import functional
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

#: CTGAN's temperature of the Gumbel softmax on the generator's discrete outputs (the package's)
GUMBEL_TAU = 0.2
#: tries before a NaN Gumbel softmax is an error (the package's)
GUMBEL_TRIES = 10


@dataclass(frozen=True)
class _Run:
    """``count`` consecutive spans of ``width`` columns from column ``start``, one activation;
    for CTGAN's conditional loss also where they sit in the conditional vector (``cond_start``)
    and among the discrete columns (``order_start``)."""

    activation: str
    start: int
    width: int
    count: int
    cond_start: int = 0
    order_start: int = 0

    @property
    def stop(self) -> int:
        return self.start + self.width * self.count

    def take(self, x: torch.Tensor, start: int | None = None) -> torch.Tensor:
        """The run's columns of ``x`` (from ``start``, default the run's own): ``(batch, count,
        width)``, a view."""
        first = self.start if start is None else start
        return x[:, first : first + self.width * self.count].reshape(x.shape[0], self.count, self.width)


def _spans(output_info: Sequence[Sequence[Any]]) -> Iterator[tuple[int, Any, bool]]:
    """(first column, span, whether the span is a whole discrete column) in the package's order."""
    start = 0
    for column in output_info:
        whole = len(column) == 1 and column[0].activation_fn == "softmax"
        for span in column:
            yield start, span, whole
            start += span.dim


def _runs(spans: Iterable[tuple[int, Any, int, int]]) -> list[_Run]:
    """Maximal runs of adjacent (first column, span, conditional start, discrete order) entries
    with one activation and width, adjacent in every coordinate."""
    runs: list[_Run] = []
    for start, span, cond_start, order in spans:
        last = runs[-1] if runs else None
        if (last is not None and last.activation == span.activation_fn and last.width == span.dim
                and last.stop == start and last.cond_start + last.width * last.count == cond_start
                and last.order_start + last.count == order):
            runs[-1] = _Run(last.activation, last.start, last.width, last.count + 1, last.cond_start,
                            last.order_start)
        else:
            runs.append(_Run(span.activation_fn, start, span.dim, 1, cond_start, order))
    return runs


def activation_runs(output_info: Sequence[Sequence[Any]]) -> list[_Run]:
    """CTGAN's output: every span, in runs of one activation and width."""
    spans = []
    for i, (start, span, _) in enumerate(_spans(output_info)):
        if span.activation_fn not in ("tanh", "softmax"):
            raise ValueError(f"Unexpected activation function {span.activation_fn}.")
        spans.append((start, span, start, i))
    return _runs(spans)


def discrete_runs(output_info: Sequence[Sequence[Any]]) -> list[_Run]:
    """CTGAN's conditional loss: the whole discrete columns, with where each sits in the
    conditional vector and in the mask (the discrete columns in order)."""
    spans = []
    cond_start = 0
    for start, span, whole in _spans(output_info):
        if whole:
            spans.append((start, span, cond_start, len(spans)))
            cond_start += span.dim
    return _runs(spans)


def softmax_runs(output_info: Sequence[Sequence[Any]]) -> tuple[torch.Tensor, list[_Run]]:
    """TVAE's loss: the columns of the ``tanh`` spans, and every ``softmax`` span of two or more
    categories in runs (a one-category span adds exactly 0 and is left out)."""
    tanh_cols, spans = [], []
    for i, (start, span, _) in enumerate(_spans(output_info)):
        if span.activation_fn != "softmax":
            tanh_cols.append(start)
        elif span.dim > 1:
            spans.append((start, span, start, i))
    return torch.tensor(tanh_cols, dtype=torch.long), _runs(spans)


def span_cross_entropy(logits: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """``cross_entropy(logits, argmax(onehot))`` over the last dimension, per span: ``(batch,
    spans)`` from ``(batch, spans, width)``. Two categories (every binary code) take the same
    quantity in closed form, ``softplus(l_other - l_target)`` (torch's log-softmax over a
    dimension of 2 runs one short loop per row: it was a third of TVAE's update); one category
    has a cross-entropy of exactly 0 and no gradient."""
    if logits.shape[-1] == 2:
        # arg-max (ties to the first category, as torch's) as a sign: +1 first, -1 second
        sign = 1.0 - 2.0 * (onehot[..., 1] > onehot[..., 0]).to(logits.dtype)
        return functional.softplus((logits[..., 1] - logits[..., 0]) * sign)
    if logits.shape[-1] == 1:
        return logits.new_zeros(logits.shape[:2])
    target = onehot.argmax(dim=-1)
    ce = functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
    return ce.reshape(logits.shape[:2])


def _gumbel_softmax_once(logits: torch.Tensor) -> torch.Tensor:
    """torch's soft Gumbel softmax at temperature 0.2 over the last dimension: the same noise draw
    (``-log Exp(1)``, one number per logit), and over two categories the same softmax in closed
    form, ``sigmoid(z_k - z_other)`` (torch's softmax over a dimension of 2 runs one short loop
    per row)."""
    gumbels = -torch.empty_like(logits, memory_format=torch.legacy_contiguous_format).exponential_().log()
    z = (logits + gumbels) / GUMBEL_TAU
    if z.shape[-1] == 2:
        d = z[..., 1] - z[..., 0]
        return torch.stack([torch.sigmoid(-d), torch.sigmoid(d)], dim=-1)
    return z.softmax(dim=-1)


def gumbel_softmax(logits: torch.Tensor) -> torch.Tensor:
    """The package's Gumbel softmax (temperature 0.2, soft, retried when it returns NaN) over the
    last dimension of ``logits``: one noise draw for every span at once."""
    for _ in range(GUMBEL_TRIES):
        out = _gumbel_softmax_once(logits)
        if not torch.isnan(out).any():
            return out
    raise ValueError("gumbel_softmax returning NaN.")


def apply_activate(data: torch.Tensor, runs: list[_Run]) -> torch.Tensor:
    """CTGAN's generator output activated as the package does (``tanh`` on continuous values, a
    Gumbel softmax on each one-hot span), one call per run of equal spans."""
    parts = []
    for run in runs:
        if run.activation == "tanh":
            parts.append(torch.tanh(data[:, run.start : run.stop]))
        else:
            parts.append(gumbel_softmax(run.take(data)).reshape(data.shape[0], run.count * run.width))
    return torch.cat(parts, dim=1)


def cond_loss(data: torch.Tensor, c: torch.Tensor, m: torch.Tensor, runs: list[_Run]) -> torch.Tensor:
    """CTGAN's conditional loss: the cross-entropy of each discrete column's generated logits
    against the category the conditional vector chose, masked to the chosen column, summed and
    divided by the batch size, as the package computes it."""
    total = data.new_zeros(())
    for run in runs:
        ce = span_cross_entropy(run.take(data), run.take(c, run.cond_start))
        total = total + (ce * m[:, run.order_start : run.order_start + run.count]).sum()
    return total / data.shape[0]


def tvae_loss(recon_x: torch.Tensor, x: torch.Tensor, sigmas: torch.Tensor, mu: torch.Tensor,
              logvar: torch.Tensor, tanh_cols: torch.Tensor, runs: list[_Run],
              factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """TVAE's loss as the package defines it: a Gaussian term with the decoder's sigma on every
    ``tanh`` column, a summed cross-entropy on every ``softmax`` span, times ``factor`` per record;
    and the KL term per record."""
    n = x.shape[0]
    total = recon_x.new_zeros(())
    if len(tanh_cols):
        cols = tanh_cols.to(x.device)
        std = sigmas[cols]
        eq = x[:, cols] - torch.tanh(recon_x[:, cols])
        total = total + (eq**2 / 2 / std**2).sum() + (torch.log(std) * n).sum()
    for run in runs:
        total = total + span_cross_entropy(run.take(recon_x), run.take(x)).sum()
    kld = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())
    return total * factor / n, kld / n


class VectorisedCTGAN(CTGAN):
    """The package's ``CTGAN`` with the vectorised activation and conditional loss above (the
    layout is read once per fit from the fitted transformer); everything else is the package's."""

    def _layout(self) -> tuple[list[_Run], list[_Run]]:
        info = self._transformer.output_info_list
        cached = getattr(self, "_vectorised_layout", None)
        if cached is None or cached[0] is not info:
            cached = (info, activation_runs(info), discrete_runs(info))
            self._vectorised_layout = cached
        return cached[1], cached[2]

    def _apply_activate(self, data: torch.Tensor) -> torch.Tensor:
        return apply_activate(data, self._layout()[0])

    def _cond_loss(self, data: torch.Tensor, c: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return cond_loss(data, c, m, self._layout()[1])


def batched_loader(dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                   **kw: Any) -> DataLoader:
    """The package's ``DataLoader(TensorDataset, batch_size, shuffle, drop_last)`` with each batch
    taken in one indexing: the default loader fetches a batch record by record and stacks the
    records (500 Python calls per update). The same sampler draws the same permutation from the
    same generator, so the batches hold the same records in the same order."""
    base = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
    return DataLoader(_Rows(dataset), batch_size=None, sampler=BatchSampler(base, batch_size, drop_last), **kw)


class _Rows(Dataset):
    """A ``TensorDataset`` read a batch at a time: ``rows[indices]`` is one ``index_select`` per
    tensor (indexing with the Python list itself converts it element by element). The package's
    matrix arrives column-major (a transposed numpy array); it is laid out by rows once, so that
    a batch is whole rows copied, not 500 x 483 scattered reads (the same values)."""

    def __init__(self, dataset: Any) -> None:
        self.tensors = tuple(t.contiguous() for t in dataset.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t.index_select(0, idx) for t in self.tensors)


@contextmanager
def vectorised_tvae_loss() -> Iterator[None]:
    """Within the block, the package's TVAE computes its loss with :func:`tvae_loss` and reads
    its batches through :func:`batched_loader` (both are module-level names of
    ``ctgan.synthesizers.tvae``, so they are swapped for the block and restored after)."""
    module = tvae_module
    original: Callable[..., Any] = module._loss_function
    original_loader = module.DataLoader
    layouts: dict[int, tuple[Any, torch.Tensor, list[_Run]]] = {}

    def loss(recon_x, x, sigmas, mu, logvar, output_info, factor):  # the package's signature
        key = id(output_info)
        if key not in layouts or layouts[key][0] is not output_info:
            layouts[key] = (output_info, *softmax_runs(output_info))
        _, tanh_cols, runs = layouts[key]
        return tvae_loss(recon_x, x, sigmas, mu, logvar, tanh_cols, runs, factor)

    module._loss_function = loss
    module.DataLoader = batched_loader
    try:
        yield
    finally:
        module._loss_function = original
        module.DataLoader = original_loader
