"""A compact GPT-2-style decoder written from torch.nn primitives, with a key/value cache for
sampling (one new token per step costs one token's work, not the whole prefix again).

GPT-2's layout: learned token and position embeddings, pre-LayerNorm blocks of causal
multi-head self-attention and a GELU MLP (4x width), residual connections, dropout on the
embeddings, attention output and MLP output, a final LayerNorm and an output layer tied to the
token embedding. Weights start as GPT-2's: normal(0, 0.02), residual output projections scaled by
``1/sqrt(2 n_layers)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

Cache = list[tuple[torch.Tensor, torch.Tensor]]


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.out = nn.Linear(4 * d_model, d_model)
        self.drop = nn.Dropout(dropout)
        self.p_attn = dropout

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, t, d = x.shape
        h = self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        # with a cache the new tokens come last and may see everything before them
        causal = past is None and t > 1
        if past is not None and t > 1:
            raise ValueError("the cache extends one token at a time")
        a = F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=self.p_attn if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        x = x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))
        return x, (k, v)


class GPT(nn.Module):
    """Next-token logits for token sequences ``(b, t)``; ``t <= max_len``."""

    def __init__(self, vocab: int, max_len: int, d_model: int, n_layers: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.max_len = max_len
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.ln = nn.LayerNorm(d_model)
        self.apply(self._init)
        for blk in self.blocks:
            for lin in (blk.proj, blk.out):
                nn.init.normal_(lin.weight, 0.0, 0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor, past: Cache | None = None) -> tuple[torch.Tensor, Cache]:
        start = 0 if past is None else past[0][0].shape[2]
        pos = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        x = self.drop(self.tok(tokens) + self.pos(pos))
        cache: Cache = []
        for i, blk in enumerate(self.blocks):
            x, kv = blk(x, None if past is None else past[i])
            cache.append(kv)
        return self.ln(x) @ self.tok.weight.T, cache
