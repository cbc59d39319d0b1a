"""Records as token sequences and back, for the causal transformer.

Vocabulary for ``d`` codes: tokens ``0..d-1`` are the codes (column indices), ``d`` is the end
token, ``d+1`` and ``d+2`` the label prefixes (label 0, label 1) and ``d+3`` the prefix of an
unlabelled record. A record is ``[prefix, c_1, ..., c_k, end]`` with its codes in increasing column
order, so each record has exactly one sequence (no order to learn or to average over).
"""

from __future__ import annotations

import numpy as np


class Vocabulary:
    """Token ids for ``n_codes`` codes."""

    def __init__(self, n_codes: int) -> None:
        self.n_codes = int(n_codes)
        self.end = self.n_codes
        self.label0 = self.n_codes + 1
        self.no_label = self.n_codes + 3
        self.size = self.n_codes + 4

    def prefix(self, y: np.ndarray | None, n: int) -> np.ndarray:
        """The first token of ``n`` records: their label's token, or the no-label token."""
        if y is None:
            return np.full(n, self.no_label, dtype=np.int64)
        return self.label0 + np.asarray(y, dtype=np.int64)

    def encode(self, X: np.ndarray, y: np.ndarray | None, max_codes: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Token matrix ``(n, max_codes + 2)`` (rows padded with the end token), each row's length
        (prefix and end included) and the number of records truncated to ``max_codes`` codes
        (the first ``max_codes`` in column order are kept)."""
        X = np.asarray(X)
        n = X.shape[0]
        tokens = np.full((n, max_codes + 2), self.end, dtype=np.int64)
        tokens[:, 0] = self.prefix(y, n)
        lengths = np.empty(n, dtype=np.int64)
        truncated = 0
        for i in range(n):
            codes = np.flatnonzero(X[i] > 0)
            if codes.size > max_codes:
                codes = codes[:max_codes]
                truncated += 1
            tokens[i, 1 : 1 + codes.size] = codes
            lengths[i] = codes.size + 2
        return tokens, lengths, truncated

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """Binary records from generated sequences (prefix excluded): the codes before the first
        end token are present."""
        n = tokens.shape[0]
        X = np.zeros((n, self.n_codes), dtype=np.float32)
        for i in range(n):
            row = tokens[i]
            stop = np.flatnonzero(row >= self.n_codes)
            row = row[: stop[0]] if stop.size else row
            X[i, row] = 1.0
        return X
