"""MedDiff's guided noise predictor: the trained network (and classifier) folded into the one
callable every sampler drives, ``eps_fn(x: (k, n, d), t: (k,)) -> (k, n, d)``.

Kept apart from the model so that the samplers know nothing of labels and the model nothing of
how its predictor is batched. The network runs under :func:`generators._torch.inference_autocast`:
in bfloat16 where the generator's ``precision`` asks for it (its products; the skip term of
``EpsilonModel``, the residual stream and the sampler's state stay float32), in float32 otherwise.
"""

from __future__ import annotations

import torch
from torch import nn

from generators._torch import inference_autocast
from generators.meddiff.samplers import EpsFn


def guided_eps(
    net: nn.Module,
    classifier: nn.Module | None,
    mode: str,
    scale: float,
    alpha_bar: torch.Tensor,
    labels: torch.Tensor | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> EpsFn:
    """The noise predictor for records with ``labels`` (``(n,)``; None: unconditional) under
    guidance ``mode`` at ``scale`` (see :class:`generators.meddiff.MedDiff`)."""
    abar = alpha_bar.to(dtype=torch.float32, device=device)
    w = float(scale)

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        k, n, d = x.shape
        flat = x.reshape(k * n, d)
        tt = t.to(device).repeat_interleave(n)
        yy = None if labels is None else labels.repeat(k)
        with torch.no_grad(), inference_autocast(dtype, device):
            if mode == "classifier-free" and yy is not None:
                if w == 1:  # the conditional model itself: one pass
                    eps = net(flat, tt, yy)
                elif w == 0:
                    eps = net(flat, tt)
                else:
                    null = torch.full_like(yy, net.null_label)
                    both = net(torch.cat([flat, flat]), torch.cat([tt, tt]), torch.cat([yy, null]))
                    cond, uncond = both.float().chunk(2)
                    eps = uncond + w * (cond - uncond)
            else:
                eps = net(flat, tt)
        eps = eps.float()
        if mode == "classifier" and classifier is not None and yy is not None and w > 0:
            grad = classifier.grad_log_prob(flat, tt, yy)
            eps = eps - w * (1 - abar[tt]).sqrt().unsqueeze(1) * grad
        return eps.reshape(k, n, d)

    return fn
