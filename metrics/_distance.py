"""Nearest-neighbour distances in chunks, so memory stays bounded at any record count.

Every function here walks the query rows in blocks of at most ``CHUNK_ELEMENTS`` query x reference
cells: an N x N distance matrix is never held in memory, whatever N is. When the harness runs the
metrics on a GPU (:mod:`metrics.device`) the same blocks are computed and reduced there in torch;
distances are the same numbers and ties still go to the lowest reference index.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from metrics.device import torch_device

CHUNK_ELEMENTS = 16_000_000  # float32 cells of one query-by-reference block (64 MB)


def _as_f32(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X, dtype=np.float32)


def squared_blocks(
    query: np.ndarray, reference: np.ndarray, exclude_self: bool = False
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, block)``: squared Euclidean distances of query rows ``start:start+len(block)``
    to every reference row.

    Computed as |q|^2 + |r|^2 - 2 q.r with one matrix product per block (BLAS does the work);
    exact on binary and small-count data because float32 holds those integers exactly. With
    ``exclude_self`` the query and reference are the same matrix and each row's distance to
    itself is set to infinity.
    """
    q = _as_f32(query)
    r = _as_f32(reference)
    rn = np.einsum("ij,ij->i", r, r)
    step = max(1, CHUNK_ELEMENTS // max(1, r.shape[0]))
    for s in range(0, q.shape[0], step):
        block = q[s : s + step]
        d2 = block @ r.T
        d2 *= -2.0
        d2 += np.einsum("ij,ij->i", block, block)[:, None]
        d2 += rn[None, :]
        np.maximum(d2, 0, out=d2)
        if exclude_self:
            rows = np.arange(block.shape[0])
            d2[rows, s + rows] = np.inf
        yield s, d2


def nearest_neighbours(
    query: np.ndarray, reference: np.ndarray, k: int = 1, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the ``k`` nearest reference rows of each query row, nearest first.

    Ties are broken towards the lower reference index, so results do not depend on the block size.
    """
    n_ref = np.asarray(reference).shape[0]
    need = k + 1 if exclude_self else k
    if n_ref < need:
        raise ValueError(f"need at least {need} reference rows, got {n_ref}")
    device = torch_device()
    if device is not None:
        d2, index = _torch_nearest(query, reference, k, exclude_self, device)
        return np.sqrt(d2), index
    n_q = np.asarray(query).shape[0]
    dist = np.empty((n_q, k), dtype=np.float32)
    index = np.empty((n_q, k), dtype=np.int64)
    for s, d2 in squared_blocks(query, reference, exclude_self):
        if k == 1:  # argmin returns the first minimum: the lowest index among ties
            idx = d2.argmin(axis=1)[:, None]
            dist[s : s + d2.shape[0]] = np.sqrt(np.take_along_axis(d2, idx, axis=1))
            index[s : s + d2.shape[0]] = idx
            continue
        if k < n_ref:
            part = np.argpartition(d2, k - 1, axis=1)[:, :k]
            # argpartition leaves ties at the k-th distance in arbitrary order: take every
            # column tied with the k-th value and keep the lowest indices among them
            kth = np.take_along_axis(d2, part, axis=1).max(axis=1)
            idx = _lowest_index_k(d2, kth, k)
        else:
            idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
        vals = np.take_along_axis(d2, idx, axis=1)
        order = np.lexsort((idx, vals), axis=1)
        idx = np.take_along_axis(idx, order, axis=1)
        vals = np.take_along_axis(vals, order, axis=1)
        dist[s : s + d2.shape[0]] = np.sqrt(vals)
        index[s : s + d2.shape[0]] = idx
    return dist, index


def _lowest_index_k(d2: np.ndarray, kth: np.ndarray, k: int) -> np.ndarray:
    """Per row, the indices of the k smallest values, ties at the k-th value resolved by index."""
    out = np.empty((d2.shape[0], k), dtype=np.int64)
    below = d2 < kth[:, None]
    n_below = below.sum(axis=1)
    for i in range(d2.shape[0]):
        strict = np.flatnonzero(below[i])
        tied = np.flatnonzero(d2[i] == kth[i])[: k - n_below[i]]
        out[i] = np.concatenate([strict, tied])
    return out


def nearest_distances(
    query: np.ndarray, reference: np.ndarray, k: int = 1, exclude_self: bool = False, squared: bool = False
) -> np.ndarray:
    """Euclidean distance from each query row to its ``k`` nearest reference rows (sorted).

    On binary rows the squared distance is the Hamming distance. With ``exclude_self`` the query
    and reference are the same matrix and each row's own zero distance is skipped (a duplicate of
    the row elsewhere still counts, at distance zero). ``squared`` returns squared distances, for
    comparisons with other squared distances without a round trip through the square root.
    """
    n_ref = np.asarray(reference).shape[0]
    need = k + 1 if exclude_self else k
    if n_ref < need:
        raise ValueError(f"need at least {need} reference rows, got {n_ref}")
    device = torch_device()
    if device is not None:
        out = _torch_nearest(query, reference, k, exclude_self, device)[0]
        return out if squared else np.sqrt(out)
    out = np.empty((np.asarray(query).shape[0], k), dtype=np.float32)
    for s, d2 in squared_blocks(query, reference, exclude_self):
        part = np.partition(d2, k - 1, axis=1)[:, :k] if k < n_ref else d2
        out[s : s + d2.shape[0]] = np.sort(part, axis=1)[:, :k]
    return out if squared else np.sqrt(out)


def cross_nearest(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of one cross-distance pass: each ``a`` row's nearest ``b`` distance and each
    ``b`` row's nearest ``a`` distance, at the cost of a single walk over the blocks.
    """
    device = torch_device()
    if device is not None:
        return _torch_cross_nearest(a, b, device)
    a_to_b = np.empty(np.asarray(a).shape[0], dtype=np.float32)
    b_to_a = np.full(np.asarray(b).shape[0], np.inf, dtype=np.float32)
    for s, d2 in squared_blocks(a, b):
        a_to_b[s : s + d2.shape[0]] = d2.min(axis=1)
        np.minimum(b_to_a, d2.min(axis=0), out=b_to_a)
    return np.sqrt(a_to_b), np.sqrt(b_to_a)



def nearest_with_ties(query: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's squared distance to its nearest reference row, and how many reference rows
    lie at exactly that distance (1 when the nearest is unique).

    Binary records tie often (the squared distance is a Hamming distance): a statistic that asks
    *which set* the nearest record belongs to must share a tie among every tied record.
    """
    if np.asarray(reference).shape[0] < 1:
        raise ValueError("need at least 1 reference row, got 0")
    device = torch_device()
    if device is not None:
        return _torch_nearest_with_ties(query, reference, device)
    n_q = np.asarray(query).shape[0]
    best = np.empty(n_q, dtype=np.float32)
    count = np.empty(n_q, dtype=np.int64)
    for s, d2 in squared_blocks(query, reference):
        low = d2.min(axis=1)
        best[s : s + d2.shape[0]] = low
        count[s : s + d2.shape[0]] = (d2 == low[:, None]).sum(axis=1)
    return best, count


def log_kernel_sums(query: np.ndarray, reference: np.ndarray, betas: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """``log sum_r exp(-beta * |q - r|^2)`` for every query row (rows) and every ``beta`` (columns).

    The sums of a kernel density estimate, computed stably (log-sum-exp from the nearest row) in
    float64 from the float32 blocks of :func:`squared_blocks`; ``exclude_self`` leaves each row's
    own term out (leave-one-out). CPU only: it serves sample sizes of a few thousand rows.
    """
    betas = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    out = np.empty((np.asarray(query).shape[0], betas.size), dtype=np.float64)
    for s, d2 in squared_blocks(query, reference, exclude_self):
        d2 = d2.astype(np.float64)
        low = d2.min(axis=1, keepdims=True)
        for j, beta in enumerate(betas):
            out[s : s + d2.shape[0], j] = -beta * low[:, 0] + np.log(np.exp(-beta * (d2 - low)).sum(axis=1))
    return out


# ------------------------------------------------------------------------------ torch (GPU) path
def _torch_blocks(query: np.ndarray, reference: np.ndarray, exclude_self: bool, device: object):
    """:func:`squared_blocks` in torch on ``device``: the same arithmetic, in float32."""
    import torch

    q = torch.as_tensor(_as_f32(query), device=device)
    r = torch.as_tensor(_as_f32(reference), device=device)
    rn = (r * r).sum(dim=1)
    step = max(1, CHUNK_ELEMENTS // max(1, r.shape[0]))
    for s in range(0, q.shape[0], step):
        block = q[s : s + step]
        d2 = block @ r.T
        d2.mul_(-2.0).add_((block * block).sum(dim=1)[:, None]).add_(rn[None, :]).clamp_(min=0)
        if exclude_self:
            rows = torch.arange(block.shape[0], device=d2.device)
            d2[rows, s + rows] = float("inf")
        yield s, d2


def _torch_nearest(
    query: np.ndarray, reference: np.ndarray, k: int, exclude_self: bool, device: object
) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances and indices of the ``k`` nearest reference rows, on ``device``.

    A stable sort of each block row keeps ties in index order, so the lowest reference index
    wins a tie exactly as on the numpy path (``topk`` makes no such promise).
    """
    import torch

    n_q = np.asarray(query).shape[0]
    dist = np.empty((n_q, k), dtype=np.float32)
    index = np.empty((n_q, k), dtype=np.int64)
    for s, d2 in _torch_blocks(query, reference, exclude_self, device):
        if k == 1:  # argmin returns the first minimal index
            idx = d2.argmin(dim=1, keepdim=True)
            vals = d2.gather(1, idx)
        else:
            vals, idx = torch.sort(d2, dim=1, stable=True)
            vals, idx = vals[:, :k], idx[:, :k]
        dist[s : s + d2.shape[0]] = vals.cpu().numpy()
        index[s : s + d2.shape[0]] = idx.cpu().numpy()
    return dist, index


def _torch_cross_nearest(a: np.ndarray, b: np.ndarray, device: object) -> tuple[np.ndarray, np.ndarray]:
    import torch

    a_to_b = np.empty(np.asarray(a).shape[0], dtype=np.float32)
    b_to_a = torch.full((np.asarray(b).shape[0],), float("inf"), device=device)
    for s, d2 in _torch_blocks(a, b, False, device):
        a_to_b[s : s + d2.shape[0]] = d2.min(dim=1).values.cpu().numpy()
        b_to_a = torch.minimum(b_to_a, d2.min(dim=0).values)
    return np.sqrt(a_to_b), np.sqrt(b_to_a.cpu().numpy())


def _torch_nearest_with_ties(query: np.ndarray, reference: np.ndarray, device: object) -> tuple[np.ndarray, np.ndarray]:
    n_q = np.asarray(query).shape[0]
    best = np.empty(n_q, dtype=np.float32)
    count = np.empty(n_q, dtype=np.int64)
    for s, d2 in _torch_blocks(query, reference, False, device):
        low = d2.min(dim=1).values
        best[s : s + d2.shape[0]] = low.cpu().numpy()
        count[s : s + d2.shape[0]] = (d2 == low[:, None]).sum(dim=1).cpu().numpy()
    return best, count
