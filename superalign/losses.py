"""Weak-to-strong training losses, registered by name.

Every loss is a pure function ``loss(logits, targets, step_frac, **params) -> scalar`` where
``logits`` are the student's (n, k) logits, ``targets`` the (n, k) soft labels of the supervisor,
and ``step_frac`` in [0, 1] the fraction of training done (for warm-ups). Hyper-parameters are
keyword arguments with typed, range-checked annotations (``Annotated[float, Field(ge=0, le=1)]``)
and defaults: the one source of `loss_params_model`, which validates config values
(``method_params.logconf.alpha_max``) before anything trains, and of ``superalign methods``.
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Callable
from typing import Annotated, Any, Protocol

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .errors import ConfigError
from .registry import Registry

Fraction = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


class Loss(Protocol):
    def __call__(
        self, logits: torch.Tensor, targets: torch.Tensor, step_frac: float, **params: Any
    ) -> torch.Tensor: ...


LOSSES: Registry[Loss] = Registry("loss")


def register_loss(name: str) -> Callable[[Loss], Loss]:
    """Decorator: register a loss; its keyword parameters after ``step_frac`` are its hyper-parameters."""
    return LOSSES.register(name)


def loss_params_model(name: str) -> type[BaseModel]:
    """The pydantic model of loss `name`'s hyper-parameters, built from its signature (strict:
    numbers stay numbers; unknown names are errors)."""
    return params_model_of(LOSSES[name], name)


@functools.cache
def params_model_of(fn: Loss, name: str) -> type[BaseModel]:
    """Cached per function, so a loss redefined under its name (a notebook cell run again) is read afresh."""
    hints = typing.get_type_hints(fn, include_extras=True)
    fields = {p.name: (hints[p.name], p.default) for p in list(inspect.signature(fn).parameters.values())[3:]}
    return create_model(f"{name}_params", __config__=ConfigDict(extra="forbid", strict=True), **fields)


def get_loss(name: str, **params: Any) -> Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]:
    """The loss `name` with its hyper-parameters validated and bound; unknown names, unknown
    parameters and out-of-range values are one-line ConfigErrors."""
    fn = LOSSES.get(name)
    model = loss_params_model(name)
    unknown = set(params) - set(model.model_fields)
    if unknown:
        raise ConfigError(
            f"loss {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(model.model_fields) or 'none'}"
        )
    try:
        bound = model.model_validate(params).model_dump()
    except ValidationError as e:
        err = e.errors()[0]
        where, got = ".".join(str(x) for x in err["loc"]), err["input"]
        if err["type"].endswith("_type"):
            raise ConfigError(f"loss {name!r}: parameter {where} must be a number, got {got!r}") from None
        op = _BOUNDS.get(err["type"])
        limit = f"{op} {next(iter(err['ctx'].values()))}" if op and err.get("ctx") else err["msg"]
        raise ConfigError(f"loss {name!r}: parameter {where} must be {limit}, got {got!r}") from None
    return lambda logits, targets, step_frac: fn(logits, targets, step_frac, **bound)


def soft_xent(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of soft `targets` (n, k) against the softmax of `logits` (n, k)."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()


@register_loss("xent")
def xent(logits: torch.Tensor, targets: torch.Tensor, step_frac: float) -> torch.Tensor:
    """Cross-entropy against the supervisor's soft labels (naive W2S fine-tuning, Burns et al. 2023)."""
    return soft_xent(logits, targets)


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
    logits: torch.Tensor,
    targets: torch.Tensor,
    step_frac: float,
    alpha_max: Fraction = 0.5,
    warmup_frac: Fraction = 0.2,
) -> torch.Tensor:
    """Auxiliary confidence loss (Burns et al. 2023, "Weak-to-strong generalization", eq. 1).

    target = (1 - a) * weak + a * hardened(student), where the student's predictions are
    hardened with a threshold matching the weak labels' class balance, and
    a = alpha_max * min(1, step_frac / warmup_frac) rises linearly and continuously
    (the reference code jumps from warmup_frac to 1 at the end of warm-up; we do not).
    """
    alpha = alpha_max * min(1.0, step_frac / warmup_frac) if warmup_frac > 0 else alpha_max
    hardened = _balanced_hard_predictions(torch.softmax(logits.detach(), -1), targets)
    return soft_xent(logits, (1 - alpha) * targets + alpha * hardened)


@register_loss("product")
def product(
    logits: torch.Tensor, targets: torch.Tensor, step_frac: float, alpha: NonNegative = 1.0, beta: NonNegative = 1.0
) -> torch.Tensor:
    """Product-of-experts target: t ∝ weak^alpha · student^beta (student detached), then
    cross-entropy to t (EleutherAI w2s "product" loss). The student keeps what it already
    believes unless the weak label is confident."""
    log_t = alpha * torch.log(targets.clamp_min(1e-12)) + beta * F.log_softmax(logits.detach(), -1)
    return soft_xent(logits, torch.softmax(log_t, -1))


def _warmup(step_frac: float, alpha_max: float, warmup_frac: float) -> float:
    """alpha_max reached linearly over the first `warmup_frac` of training (constant if 0)."""
    return alpha_max * min(1.0, step_frac / warmup_frac) if warmup_frac > 0 else alpha_max


@register_loss("entropy")
def entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    step_frac: float,
    alpha_max: Fraction = 0.5,
    warmup_frac: Fraction = 0.2,
) -> torch.Tensor:
    """Logconf with soft, unhardened self-targets (EleutherAI w2s "entropy" loss).

    target = (1 - a) * weak + a * student, with `a` warmed up as in logconf. The student term is
    kept in the graph, so the loss is (1 - a) * CE(weak, student) + a * H(student): cross-entropy
    plus entropy minimisation (Grandvalet & Bengio 2005). EleutherAI detaches the self-target,
    which makes the gradient exactly (1 - a) times that of xent; we keep it so the loss differs.
    """
    alpha = _warmup(step_frac, alpha_max, warmup_frac)
    return soft_xent(logits, (1 - alpha) * targets + alpha * torch.softmax(logits, -1))


@register_loss("window")
def window(
    logits: torch.Tensor, targets: torch.Tensor, step_frac: float, radius: Annotated[float, Field(ge=0, le=0.5)] = 0.15
) -> torch.Tensor:
    """Confidence-window loss (EleutherAI w2s): cross-entropy to the weak labels only on the
    examples where the student is still unsure, max prob < 1/k + radius (0.5 + radius for
    binary); the sum is divided by the whole batch size, so confident examples contribute 0."""
    probs = torch.softmax(logits.detach(), -1)
    unsure = (probs.max(-1).values < 1.0 / logits.shape[-1] + radius).float()
    return (-(targets * F.log_softmax(logits, -1)).sum(-1) * unsure).mean()


@register_loss("adaptconf")
def adaptconf(
    logits: torch.Tensor,
    targets: torch.Tensor,
    step_frac: float,
    temperature: Positive = 0.5,
    warmup_frac: Fraction = 0.0,
) -> torch.Tensor:
    """Adaptive confidence distillation (Guo et al. 2024, "Vision Superalignment", AdaptConf).

    Per example, loss = (1 - b) * CE(weak, student) + b * CE(hardened student, student) with
    b = exp(CE_self / T) / (exp(CE_self / T) + exp(CE_weak / T)), where CE_self and CE_weak are
    the student's cross-entropies to its own and to the weak argmax label (detached; as in the
    authors' code, ggjy/vision_weak_to_strong). b = 1/2 where the two argmax labels agree.
    The distillation term is soft cross-entropy, i.e. their KL at temperature 1 up to a constant.
    `warmup_frac` > 0 scales b up linearly at the start, like the authors' optional warm-up.
    """
    logp = F.log_softmax(logits, -1)
    self_hard = F.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    weak_hard = F.one_hot(targets.argmax(-1), logits.shape[-1]).float()
    ce_self, ce_weak = -(self_hard * logp.detach()).sum(-1), -(weak_hard * logp.detach()).sum(-1)
    b = torch.sigmoid((ce_self - ce_weak) / temperature) * _warmup(step_frac, 1.0, warmup_frac)
    per_example = (1 - b) * -(targets * logp).sum(-1) + b * -(self_hard * logp).sum(-1)
    return per_example.mean()


@register_loss("gce")
def gce(
    logits: torch.Tensor, targets: torch.Tensor, step_frac: float, q: Annotated[float, Field(gt=0, le=1)] = 0.7
) -> torch.Tensor:
    """Generalized cross-entropy (Zhang & Sabuncu 2018): (1 - p_y^q) / q, in expectation over the
    soft weak label y. q -> 0 is cross-entropy, q = 1 is mean absolute error (noise-robust)."""
    p = torch.softmax(logits, -1)
    return (targets * (1 - p.clamp_min(1e-12) ** q) / q).sum(-1).mean()


@register_loss("sce")
def sce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    step_frac: float,
    alpha: NonNegative = 0.1,
    beta: NonNegative = 1.0,
    log_floor: Annotated[float, Field(lt=0)] = -4.0,
) -> torch.Tensor:
    """Symmetric cross-entropy (Wang et al. 2019): alpha * CE(weak, student) + beta * CE(student, weak),
    the reverse term with log 0 replaced by `log_floor` (their A = -4). Defaults: their CIFAR-10 setting."""
    reverse = -(torch.softmax(logits, -1) * torch.log(targets.clamp_min(math.exp(log_floor)))).sum(-1).mean()
    return alpha * soft_xent(logits, targets) + beta * reverse


@register_loss("bootstrap_soft")
def bootstrap_soft(
    logits: torch.Tensor, targets: torch.Tensor, step_frac: float, beta: Fraction = 0.95
) -> torch.Tensor:
    """Soft bootstrapping (Reed et al. 2014): CE to beta * weak + (1 - beta) * student, the student
    term kept in the graph (equivalent to an entropy bonus; `entropy` with a constant alpha = 1 - beta)."""
    return soft_xent(logits, beta * targets + (1 - beta) * torch.softmax(logits, -1))


@register_loss("bootstrap_hard")
def bootstrap_hard(logits: torch.Tensor, targets: torch.Tensor, step_frac: float, beta: Fraction = 0.8) -> torch.Tensor:
    """Hard bootstrapping (Reed et al. 2014): CE to beta * weak + (1 - beta) * one-hot(student argmax)."""
    hard = F.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    return soft_xent(logits, beta * targets + (1 - beta) * hard)


def calibrated_transition(targets: torch.Tensor) -> torch.Tensor:
    """The supervisor's noise transition T[i, j] = P(weak = j | true = i) implied by its own soft
    labels, if it is calibrated and its label is drawn from them: T = E[t t^T] / E[t] (row-wise).
    Rows sum to 1; one-hot labels give the identity; a class with no mass keeps an identity row."""
    t = targets.detach()
    mass = t.sum(0)
    k = t.shape[-1]
    rows = (t.T @ t) / mass.clamp_min(1e-12)[:, None]
    return torch.where((mass > 0)[:, None], rows, torch.eye(k, dtype=t.dtype, device=t.device))


@register_loss("forward")
def forward(logits: torch.Tensor, targets: torch.Tensor, step_frac: float) -> torch.Tensor:
    """Forward loss correction (Patrini et al. 2017, "Making deep neural networks robust to label
    noise: a loss correction approach"): cross-entropy of the weak labels against the student's
    probabilities pushed through the noise transition, -sum_j t_j log (p^T T)_j, so the student
    models the clean label and T models the supervisor's confusion. T is estimated on each batch
    from the weak labels themselves (`calibrated_transition`), so no gold label is needed; an
    under-confident supervisor yields a flat T and a student that commits beyond it."""
    noisy = torch.softmax(logits, -1) @ calibrated_transition(targets)
    return -(targets * torch.log(noisy.clamp_min(1e-12))).sum(-1).mean()
