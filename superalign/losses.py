"""Weak-to-strong training losses, registered by name.

Every loss is a pure function ``loss(logits, targets, step_frac, **params) -> scalar`` where
``logits`` are the student's (n, k) logits, ``targets`` the (n, k) soft labels of the supervisor,
and ``step_frac`` in [0, 1] the fraction of training done (for warm-ups). Hyper-parameters are
keyword arguments with defaults, overridable from config (``method_params.logconf.alpha_max``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from .errors import ConfigError


class Loss(Protocol):
    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, step_frac: float, **params: Any) -> torch.Tensor: ...


LOSSES: dict[str, Loss] = {}


def register_loss(name: str) -> Callable[[Loss], Loss]:
    def deco(fn: Loss) -> Loss:
        LOSSES[name] = fn
        return fn

    return deco


def get_loss(name: str, **params: Any) -> Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]:
    """The loss `name` with its hyper-parameters bound; unknown names and params are errors."""
    import inspect

    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}")
    fn = LOSSES[name]
    accepted = set(list(inspect.signature(fn).parameters)[3:])
    unknown = set(params) - accepted
    if unknown:
        raise ConfigError(f"loss {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(accepted) or 'none'}")
    return lambda logits, targets, step_frac: fn(logits, targets, step_frac, **params)


def _soft_xent(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()


@register_loss("xent")
def xent(logits: torch.Tensor, targets: torch.Tensor, step_frac: float) -> torch.Tensor:
    """Cross-entropy against the supervisor's soft labels (naive W2S fine-tuning, Burns et al. 2023)."""
    return _soft_xent(logits, targets)


@register_loss("hard")
def hard(logits: torch.Tensor, targets: torch.Tensor, step_frac: float) -> torch.Tensor:
    """Cross-entropy against the supervisor's argmax labels."""
    return F.cross_entropy(logits, targets.argmax(-1))


def _balanced_hard_predictions(probs: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """Harden binary student predictions with a threshold chosen so that the share of class 1
    equals the weak labels' mean class-1 probability (Burns et al. 2023, appendix on logconf)."""
    if probs.shape[-1] != 2:
        raise ConfigError("logconf is defined for binary tasks")
    share_pos = weak[:, 1].mean()
    threshold = torch.quantile(probs[:, 1], 1.0 - share_pos)
    pos = (probs[:, 1] > threshold).float()
    return torch.stack([1.0 - pos, pos], dim=-1)


@register_loss("logconf")
def logconf(
    logits: torch.Tensor, targets: torch.Tensor, step_frac: float, alpha_max: float = 0.5, warmup_frac: float = 0.2
) -> torch.Tensor:
    """Auxiliary confidence loss (Burns et al. 2023, "Weak-to-strong generalization", eq. 1).

    target = (1 - a) * weak + a * hardened(student), where the student's predictions are
    hardened with a threshold matching the weak labels' class balance, and
    a = alpha_max * min(1, step_frac / warmup_frac) rises linearly and continuously
    (the reference code jumps from warmup_frac to 1 at the end of warm-up; we do not).
    """
    alpha = alpha_max * min(1.0, step_frac / warmup_frac) if warmup_frac > 0 else alpha_max
    hardened = _balanced_hard_predictions(torch.softmax(logits.detach(), -1), targets)
    return _soft_xent(logits, (1 - alpha) * targets + alpha * hardened)


@register_loss("product")
def product(
    logits: torch.Tensor, targets: torch.Tensor, step_frac: float, alpha: float = 1.0, beta: float = 1.0
) -> torch.Tensor:
    """Product-of-experts target: t ∝ weak^alpha · student^beta (student detached), then
    cross-entropy to t (EleutherAI w2s "product" loss). The student keeps what it already
    believes unless the weak label is confident."""
    log_t = alpha * torch.log(targets.clamp_min(1e-12)) + beta * F.log_softmax(logits.detach(), -1)
    return _soft_xent(logits, torch.softmax(log_t, -1))
