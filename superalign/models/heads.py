"""Torch heads on frozen features."""

from __future__ import annotations

import torch


class PairwiseHead(torch.nn.Module):
    """A scalar reward net r applied to both sides of (n, 2, d) pair features, giving the
    2-class logits ``[0, r(A) - r(B)]``: softmax is then P(A > B) = sigmoid(r(A) - r(B)),
    the Bradley-Terry model of reward learning (Christiano et al. 2017; Ouyang et al. 2022).
    The logits are antisymmetric by construction: swapping A and B swaps the probabilities.
    """

    def __init__(self, reward: torch.nn.Module):
        super().__init__()
        self.reward = reward  # features (..., d) -> (..., 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.reward(x).squeeze(-1)  # (n, 2)
        diff = (r[:, 0] - r[:, 1]).unsqueeze(-1)
        return torch.cat([torch.zeros_like(diff), diff], dim=-1)

    def rewards(self, x: torch.Tensor) -> torch.Tensor:
        """r(x) of single-text features (n, d) -> (n,)."""
        return self.reward(x).squeeze(-1)
