"""The weighted losses of Kuo et al. (ICLR 2025), exactly as DIMP Curator's TypeScript trainer computes them
(src/core/train/trainer.ts `batchLoss`, src/core/weighting/weights.ts):

    objective = (1/B) Σᵢ wᵢ · CEᵢ,   CEᵢ = −log softmax(zᵢ)[yᵢ]
    wᵢ = 1                      ce, filter
         q / max(d, ε)          imp      (q, d: the checkers' probabilities of the gold label)
         q / max(p(yᵢ|xᵢ;θₜ), ε)  dimp     (p from this same forward pass)
         q                      quality
    then capped at max_weight when one is set.

The weights are constants for the gradient (detached) and the mean is the plain batch mean, not divided by Σw.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

LOSS_KINDS = ("ce", "imp", "dimp", "quality", "filter")
DEFAULT_EPSILON = 1e-6


@dataclass(frozen=True)
class WeightGuards:
    """ε on every denominator and the optional cap on every weight (recorded with the run)."""

    epsilon: float = DEFAULT_EPSILON
    max_weight: Optional[float] = None


@dataclass
class BatchLoss:
    """One batch's weighted objective (with gradient), its plain cross-entropy and each row's weight."""

    objective: torch.Tensor
    cross_entropy: torch.Tensor
    weights: torch.Tensor


def batch_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss: str,
    guards: WeightGuards = WeightGuards(),
    quality: Optional[torch.Tensor] = None,
    diversity: Optional[torch.Tensor] = None,
) -> BatchLoss:
    """The weighted loss of a batch of `B × C` logits against gold class indices (see the module's formula)."""
    if loss not in LOSS_KINDS:
        raise ValueError(f"loss must be one of {', '.join(LOSS_KINDS)}, got {loss!r}")
    if loss in ("imp", "dimp", "quality") and quality is None:
        raise ValueError(f"{loss} needs the quality checker's probabilities (q)")
    if loss == "imp" and diversity is None:
        raise ValueError("imp needs the diversity checker's probabilities (d)")
    # Half-precision logits are upcast: the weights divide by probabilities that may be near ε.
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    if labels.numel() == 0:
        zero = logits.sum() * 0.0
        return BatchLoss(zero, zero.detach(), logits.new_zeros(0))
    log_probabilities = torch.log_softmax(logits, dim=-1)
    cross_entropy = -log_probabilities.gather(1, labels.long().unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        if loss in ("ce", "filter"):
            weights = torch.ones_like(cross_entropy)
        elif loss == "imp":
            weights = quality.to(cross_entropy) / diversity.to(cross_entropy).clamp_min(guards.epsilon)
        elif loss == "quality":
            weights = quality.to(cross_entropy).clone()
        else:
            gold_probability = torch.exp(-cross_entropy.detach())
            weights = quality.to(cross_entropy) / gold_probability.clamp_min(guards.epsilon)
        if guards.max_weight is not None and loss not in ("ce", "filter"):
            weights = weights.clamp(max=guards.max_weight)
    objective = (weights * cross_entropy).mean()
    return BatchLoss(objective, cross_entropy.detach().mean(), weights)
