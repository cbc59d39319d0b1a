"""Nearest-neighbour distances in chunks, so memory stays bounded at any record count."""

from __future__ import annotations

import numpy as np

CHUNK_ELEMENTS = 16_000_000  # float32 cells of one query-by-reference block (64 MB)


def nearest_distances(
    query: np.ndarray, reference: np.ndarray, k: int = 1, exclude_self: bool = False
) -> np.ndarray:
    """Euclidean distance from each query row to its ``k`` nearest reference rows.

    On binary rows the squared distance is the Hamming distance. With ``exclude_self`` the query
    and reference are the same matrix and each row's own zero distance is skipped.
    """
    q = np.ascontiguousarray(query, dtype=np.float32)
    r = np.ascontiguousarray(reference, dtype=np.float32)
    kk = k + 1 if exclude_self else k
    if r.shape[0] < kk:
        raise ValueError(f"need at least {kk} reference rows, got {r.shape[0]}")
    rn = (r * r).sum(1)
    out = np.empty((q.shape[0], k), dtype=np.float32)
    qstep = max(1, CHUNK_ELEMENTS // max(1, r.shape[0]))
    for s in range(0, q.shape[0], qstep):
        block = q[s : s + qstep]
        d2 = (block * block).sum(1)[:, None] + rn[None, :] - 2.0 * (block @ r.T)
        np.maximum(d2, 0, out=d2)
        if exclude_self:
            d2[np.arange(block.shape[0]), np.arange(s, s + block.shape[0])] = np.inf
        part = np.partition(d2, k - 1, axis=1)[:, :k]
        out[s : s + qstep] = np.sort(part, axis=1)
    return np.sqrt(out)
