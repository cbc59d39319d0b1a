"""EHR-GPT: a compact causal transformer over each record's codes, label as the prefix token."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from bench.core.data import EHRDataset
from bench.core.departures import OWN_DEFAULT, Departures
from bench.core.errors import OptionError
from generators._torch import check_finite, minibatches, resolve_device, torch_generator, warmup_cosine
from generators.base import Generator, check_positive
from generators.ehrgpt.network import GPT
from generators.ehrgpt.tokens import Vocabulary

DEFAULT_EPOCHS = 100


def length_grouped_batches(
    n: int, batch_size: int, lengths: np.ndarray, gen: torch.Generator, group: int = 50
) -> list[torch.Tensor]:
    """One epoch's index batches with little padding: a random permutation cut into groups of
    ``group`` batches, each group sorted by sequence length and cut into batches, the batches
    then in random order (the "group by length" of fairseq and transformers). Every record is
    used once an epoch; a batch holds records of similar length, so the padded batch costs about
    what its tokens cost."""
    batches: list[torch.Tensor] = []
    for chunk in minibatches(n, batch_size * group, gen):
        chunk = chunk[torch.as_tensor(np.argsort(lengths[chunk.numpy()], kind="stable"))]
        batches.extend(chunk[s : s + batch_size] for s in range(0, len(chunk), batch_size))
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


class EHRGPT(Generator):
    """A GPT-2-style decoder that writes a record's codes one token at a time.

    Sequence: ``[label token, c_1, ..., c_k, end]``, the codes in increasing column order (see
    :mod:`generators.ehrgpt.tokens`); an unlabelled dataset gets a no-label prefix instead. The
    model is trained by next-token cross-entropy (averaged over the predicted tokens: the codes
    and the end token). Sampling: the prefix is the requested label (``sample(n, labels)``), or a
    label drawn from the training prevalence when ``labels`` is None; then tokens are drawn at
    temperature 1 from the model, restricted to codes above the last one drawn and the end token
    (so each code appears at most once and in column order, which is the only order the model
    saw), until the end token or ``max_codes`` codes.

    Binary data only: a count dataset is refused (``supported_kinds``), since presence in a set is
    what the sequence encodes.

    Size and training follow the compact GPT-2 baselines of recent EHR benchmarks (a GPT-2 over
    code sequences, e.g. the PyHealth-based MLHC 2026 study; HALO is the large hierarchical
    relative), scaled to tabular code sets; the exact configuration is not given in the material
    this project works from, so the defaults are chosen, GPT-2's recipe at small size:
    ``n_layers=4`` pre-LayerNorm blocks, ``d_model=256``, ``n_heads=4``, MLP width 4 x d_model,
    GELU, learned positional embeddings, output layer tied to the token embedding, ``dropout=0.1``;
    AdamW (``lr=5e-4``, betas 0.9/0.95, ``weight_decay=0.1`` on matrices and embeddings only),
    gradient norm clipped at ``grad_clip=1.0``, linear warm-up over ``warmup_fraction=0.05`` of
    the updates then a cosine decay to 0; ``batch_size=64``, ``epochs=100``; batches grouped by
    sequence length (:func:`length_grouped_batches`) so padding costs little. ``max_codes`` bounds
    the sequence (None: the longest training record, nothing truncated; longer records keep their
    first codes in column order, counted in ``n_truncated_``).

    Schedule: ``max_updates`` caps the optimiser updates (the suite's equal-budget mode; the
    cosine runs over the capped length); ``schedule_fraction_`` is the epochs run over the default
    100. Presets: ``cpu`` (2 layers, d_model 128, 4 heads, 25 epochs at lr 1e-3: 850 updates on
    eunomia, 0.25 of the default schedule, on a smaller network, with a higher learning rate so
    that the short run converges) fits a 3-minute budget on 2 CPU cores; ``quick`` (2 layers,
    d_model 64, 8 epochs) is for tests and smoke runs, not for results.

    The CUDA path (``device='cuda'``) ran once on an H200 (fit and sample; docs/generators.md).
    """

    name = "ehrgpt"
    supports_conditioning = True
    supported_kinds: ClassVar[tuple[str, ...]] = ("binary",)
    reference = "GPT-2 (Radford et al. 2019) over code sequences, as in recent EHR benchmarks"
    departures = Departures(
        OWN_DEFAULT, changes=("no published configuration: size and recipe are ehrbench's choice (GPT-2 at small "
                              "size)",),
        presets={"cpu": "2 layers, d_model 128, learning rate 1e-3 (default: 4 layers, d_model 256, 5e-4)",
                 "quick": "2 layers, d_model 64, batch 32, learning rate 3e-3"})
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"n_layers": 2, "d_model": 128, "n_heads": 4, "epochs": 25, "lr": 1e-3},
        "quick": {"n_layers": 2, "d_model": 64, "n_heads": 4, "epochs": 8, "batch_size": 32, "lr": 3e-3},
    }

    def __init__(
        self,
        n_layers: int = 4,
        d_model: int = 256,
        n_heads: int = 4,
        dropout: float = 0.1,
        epochs: int = DEFAULT_EPOCHS,
        batch_size: int = 64,
        lr: float = 5e-4,
        weight_decay: float = 0.1,
        warmup_fraction: float = 0.05,
        grad_clip: float = 1.0,
        max_updates: int | None = None,
        max_codes: int | None = None,
        temperature: float = 1.0,
        sample_batch: int = 2048,
        device: str = "cpu",
        random_state: int | None = None,
    ) -> None:
        self.n_layers = n_layers
        self.d_model = d_model
        self.n_heads = n_heads
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_fraction = warmup_fraction
        self.grad_clip = grad_clip
        self.max_updates = max_updates
        self.max_codes = max_codes
        self.temperature = temperature
        self.sample_batch = sample_batch
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _bad(self, option: str, why: str) -> OptionError:
        return OptionError(f"generator {self.name!r}: option {option}={getattr(self, option)!r} {why}")

    def validate_params(self) -> None:
        check_positive(self, "n_layers", "d_model", "n_heads", "epochs", "batch_size", "sample_batch")
        check_positive(self, "lr", "temperature", "grad_clip", integer=False)
        if self.d_model % self.n_heads:
            raise self._bad("n_heads", f"must divide d_model={self.d_model}")
        for opt, lo, hi in (("dropout", 0.0, 1.0), ("warmup_fraction", 0.0, 1.0)):
            v = getattr(self, opt)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v < hi:
                raise self._bad(opt, f"must be a number in [{lo}, {hi})")
        v = self.weight_decay
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise self._bad("weight_decay", "must be a non-negative number")
        for opt in ("max_updates", "max_codes"):
            if getattr(self, opt) is not None:
                check_positive(self, opt)
        resolve_device(self.device)

    # ------------------------------------------------------------------ training
    def fit(self, data: EHRDataset) -> EHRGPT:
        self.validate_params()
        self._check_data(data)
        self.n_codes_ = data.n_codes
        self.vocab_ = vocab = Vocabulary(data.n_codes)
        self.device_ = dev = resolve_device(self.device)
        self.prior_ = None if data.y is None else float(data.y.mean())
        longest = int((data.X > 0).sum(axis=1).max()) if data.n_records else 0
        self.max_codes_ = int(self.max_codes) if self.max_codes is not None else max(1, longest)
        tokens_np, lengths_np, self.n_truncated_ = vocab.encode(data.X, data.y, self.max_codes_)
        self.rng_ = torch_generator(self.random_state, dev)
        perm_rng = torch_generator(self.random_state, "cpu")
        seed = 0 if self.random_state is None else int(self.random_state)
        devices = [dev.index or 0] if dev.type == "cuda" else []
        # dropout draws from the global RNG: fork it, seeded, so fits repeat and callers' streams stay
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            net = GPT(vocab.size, self.max_codes_ + 2, self.d_model, self.n_layers, self.n_heads, self.dropout).to(dev)
            self._train(net, torch.as_tensor(tokens_np, device=dev), lengths_np, perm_rng)
        net.eval()
        self.model_ = net
        self.fitted_ = True
        self.diagnostics_: dict[str, float] = {}
        return self

    def _train(self, net: GPT, tokens: torch.Tensor, lengths: np.ndarray, perm_rng: torch.Generator) -> None:
        dev = tokens.device
        n = tokens.shape[0]
        bs = min(self.batch_size, n)
        per_epoch = math.ceil(n / bs)
        planned = self.epochs * per_epoch
        total = planned if self.max_updates is None else min(planned, int(self.max_updates))
        decay = [p for p in net.parameters() if p.dim() >= 2]
        rest = [p for p in net.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": rest, "weight_decay": 0.0}],
            lr=self.lr, betas=(0.9, 0.95),
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(round(self.warmup_fraction * total), total))
        lengths_t = torch.as_tensor(lengths, device=dev)
        pos = torch.arange(tokens.shape[1] - 1, device=dev)
        self.history_: list[dict[str, float]] = []
        step = 0
        net.train()
        for epoch in range(1, self.epochs + 1):
            loss_sum, count = 0.0, 0
            for idx_cpu in length_grouped_batches(n, bs, lengths, perm_rng):
                if step >= total:
                    break
                idx = idx_cpu.to(dev)
                lb = int(lengths[idx_cpu.numpy()].max())
                seq = tokens[idx, :lb]
                target = seq[:, 1:].clone()
                target[pos[None, : lb - 1] >= (lengths_t[idx, None] - 1)] = -100  # after the end token
                logits, _ = net(seq[:, :-1])
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
                opt.step()
                sched.step()
                step += 1
                self._report_progress(step, total, "update")
                k = int((target != -100).sum())
                loss_sum += float(loss.detach()) * k
                count += k
            if count == 0:
                break
            rec = {"epoch": epoch, "loss": loss_sum / count, "lr": float(sched.get_last_lr()[0]), "updates": step}
            check_finite(self.name, epoch, loss=rec["loss"])
            self.history_.append(rec)
        self.n_updates_ = step
        self.schedule_fraction_ = float(step / per_epoch / DEFAULT_EPOCHS)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``n`` records; with a labelled training set, for ``labels`` (drawn from the training
        prevalence when None) and returned with them; otherwise unlabelled (``None``)."""
        self._check_fitted()
        self._check_n(n, labels)
        dev = self.device_
        y: np.ndarray | None = None
        if self.prior_ is not None:
            if labels is None:
                y = (torch.rand(n, generator=self.rng_, device=dev) < self.prior_).long().cpu().numpy()
            else:
                y = np.asarray(labels)
                if not np.isin(y, [0, 1]).all():
                    raise OptionError(f"generator {self.name!r}: labels must be 0/1")
                y = y.astype(np.int64)
        prefix = self.vocab_.prefix(y, n)
        out, lengths, capped = [], [], 0
        for s in range(0, n, self.sample_batch):
            codes, k, hit = self._generate(torch.as_tensor(prefix[s : s + self.sample_batch], device=dev))
            out.append(codes)
            lengths.append(k)
            capped += hit
        X = self.vocab_.decode(np.concatenate(out, axis=0))
        self.diagnostics_ = {
            "mean_codes": float(np.concatenate(lengths).mean()),
            "capped_fraction": capped / n,
        }
        return X, y

    @torch.no_grad()
    def _generate(self, prefix: torch.Tensor) -> tuple[np.ndarray, np.ndarray, int]:
        """Codes drawn after ``prefix`` (``(m,)``), as an ``(m, max_codes)`` token matrix padded
        with the end token; also each record's number of codes and how many hit ``max_codes``."""
        net, d, end, dev = self.model_, self.n_codes_, self.vocab_.end, prefix.device
        m = prefix.shape[0]
        out = torch.full((m, self.max_codes_), end, dtype=torch.long, device=dev)
        last = torch.full((m,), -1, dtype=torch.long, device=dev)
        done = torch.zeros(m, dtype=torch.bool, device=dev)
        code_ids = torch.arange(d, device=dev)
        tok, cache = prefix[:, None], None
        for j in range(self.max_codes_):
            logits, cache = net(tok, cache)
            logits = logits[:, -1, : d + 1] / self.temperature  # codes and the end token only
            allowed = torch.ones_like(logits, dtype=torch.bool)
            allowed[:, :d] = code_ids[None, :] > last[:, None]
            logits = logits.masked_fill(~allowed, float("-inf"))
            nxt = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=self.rng_).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, end), nxt)
            out[:, j] = nxt
            done = done | (nxt == end)
            last = torch.where(done, last, nxt)
            if bool(done.all()):
                break
            tok = nxt[:, None]
        counts = (out < end).sum(dim=1)
        capped = int((~done).sum())  # reached max_codes without drawing the end token
        return out.cpu().numpy(), counts.cpu().numpy(), capped

    def diagnostics(self) -> dict[str, float]:
        """Mean codes per sampled record, the fraction stopped by ``max_codes`` (last ``sample``),
        the updates run and the fraction of the default schedule."""
        out = dict(getattr(self, "diagnostics_", {}))
        if getattr(self, "fitted_", False):
            out.update(
                updates=float(self.n_updates_),
                schedule_fraction=self.schedule_fraction_,
                truncated_records=float(self.n_truncated_),
            )
        return out
