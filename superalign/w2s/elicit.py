"""The strong model's own latent signal, without labels: contrast-consistent search (CCS) and
zero-shot class-name similarity on its frozen features.

Burns et al. 2022, "Discovering latent knowledge in language models without supervision": for
each input build a contrast pair, the statement with class 1's answer (x+) and with class 0's
(x-); standardise the features of each side separately (so the probe cannot read the appended
answer itself); fit a probe p = sigmoid(w.x + b) minimising

    L = mean[(p(x+) - (1 - p(x-)))^2] + mean[min(p(x+), p(x-))^2]    (consistency + confidence)

from several random starts, keeping the lowest loss; the label is p~ = (p(x+) + 1 - p(x-)) / 2.
On pair inputs (A, B) the pair is the contrast pair: x+ = A, x- = B.

CCS is sign-blind (p and 1 - p have the same loss). `ccs`, a zero-label baseline, fixes the sign
with the task's class names only: p~ must correlate with the zero-shot score
z = cos(f(x), f(name_1)) - cos(f(x), f(name_0)) (on pairs: A's minus B's). `zero_shot`, the
other zero-label baseline, trains the student on sigmoid(z / std z) itself (embedding zero-shot
classification). `latent_weak` combines either signal with the weak labels: oriented to agree
with them, the student trains on (1 - w) * weak + w * latent. Formulas from the papers; code
written fresh. On sentence embedders (MiniLM) CCS finds little (sentiment: 0.51-0.55 accuracy of
its labels on train_w2s, whichever template) while the zero-shot score reaches 0.63-0.70.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from ..models import split_pairs
from .methods import InterventionParams, MethodContext, register_method


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)


def ccs_fit(
    pos: np.ndarray, neg: np.ndarray, seed: int = 0, tries: int = 5, epochs: int = 500, lr: float = 1e-2
) -> np.ndarray:
    """CCS probe (module docstring) on contrast features `pos`, `neg` (n, d); returns p~ (n,) for
    the same examples, orientation arbitrary. Full-batch AdamW on a linear probe."""
    import torch

    from ..models.training import single_thread

    xp = torch.tensor(_standardise(pos), dtype=torch.float32)
    xn = torch.tensor(_standardise(neg), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    best, best_loss = None, float("inf")
    with single_thread():
        for _ in range(tries):
            w = (torch.randn(xp.shape[1], generator=gen) / xp.shape[1] ** 0.5).requires_grad_()
            b = torch.zeros(1, requires_grad=True)
            opt = torch.optim.AdamW([w, b], lr=lr, weight_decay=0.01)
            for _ in range(epochs):
                pp, pn = torch.sigmoid(xp @ w + b), torch.sigmoid(xn @ w + b)
                loss = ((pp - (1 - pn)) ** 2).mean() + (torch.minimum(pp, pn) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                pp, pn = torch.sigmoid(xp @ w + b), torch.sigmoid(xn @ w + b)
                final = float(((pp - (1 - pn)) ** 2).mean() + (torch.minimum(pp, pn) ** 2).mean())
                if final < best_loss:
                    best, best_loss = (0.5 * (pp + 1 - pn)).numpy(), final
    return np.asarray(best, dtype=np.float64)


def orient(p1: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """p1 or 1 - p1, whichever correlates non-negatively with `reference` (any score of class 1)."""
    r = np.corrcoef(p1, reference)[0, 1] if p1.std() > 0 and reference.std() > 0 else 0.0
    return p1 if not r < 0 else 1 - p1


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class ZeroShotParams(InterventionParams):
    name_template: str = Field("{name}", description="how a class name is embedded: must contain {name}")
    temperature: float = Field(1.0, gt=0, le=100, description="soft label = sigmoid(z / (temperature * std z))")

    @field_validator("name_template")
    @classmethod
    def _name(cls, v: str) -> str:
        if "{name}" not in v:
            raise ValueError("must contain {name}")
        return v


class CCSParams(ZeroShotParams):
    template: str = Field(
        "The following is {name}: {text}",
        description="contrast statement of a text input: {text} and a class name {name}",
    )
    tries: int = Field(5, ge=1, le=50, description="random starts; the lowest CCS loss is kept")
    epochs: int = Field(500, ge=10, le=10_000, description="full-batch optimizer steps per start")

    @field_validator("template")
    @classmethod
    def _fields(cls, v: str) -> str:
        if "{text}" not in v or "{name}" not in v:
            raise ValueError("must contain {text} and {name}")
        return v


def zero_shot_scores(ctx: MethodContext, texts: Sequence, name_template: str) -> np.ndarray:
    """z = cos(f(x), f(name_1)) - cos(f(x), f(name_0)) per input (on pairs: A's minus B's)."""
    names = _unit(ctx.features([name_template.format(name=n) for n in ctx.label_names]))
    direction = names[1] - names[0]
    pairs = split_pairs(texts)
    if pairs is not None:
        return _unit(ctx.features(pairs[0])) @ direction - _unit(ctx.features(pairs[1])) @ direction
    return _unit(ctx.features(list(texts))) @ direction


def zero_shot_labels(ctx: MethodContext, p: ZeroShotParams) -> np.ndarray:
    """(n, 2) soft labels sigmoid(z / (T std z)): class 1 where the input is nearer class 1's name
    (no threshold is fit: no class prior is assumed)."""
    z = zero_shot_scores(ctx, ctx.texts, p.name_template)
    p1 = 1 / (1 + np.exp(-z / (p.temperature * max(float(z.std()), 1e-9))))
    return np.stack([1 - p1, p1], 1).astype(np.float32)


def ccs_labels(ctx: MethodContext, p: CCSParams, reference: np.ndarray | None = None) -> np.ndarray:
    """(n, 2) CCS labels of train_w2s, oriented by `reference` (default: the zero-shot names score)."""
    pairs = split_pairs(ctx.texts)
    if pairs is not None:
        pos, neg = ctx.features(pairs[0]), ctx.features(pairs[1])
    else:
        pos = ctx.features([p.template.format(text=t, name=ctx.label_names[1]) for t in ctx.texts])
        neg = ctx.features([p.template.format(text=t, name=ctx.label_names[0]) for t in ctx.texts])
    p1 = ccs_fit(pos, neg, tries=p.tries, epochs=p.epochs)
    p1 = orient(p1, zero_shot_scores(ctx, ctx.texts, p.name_template) if reference is None else reference)
    return np.stack([1 - p1, p1], 1).astype(np.float32)


@register_method("zero_shot", ZeroShotParams, uses_features=True, uses_label_names=True)
def zero_shot(ctx: MethodContext, p: ZeroShotParams) -> np.ndarray:
    """Zero-label baseline: the student trains on the strong model's own zero-shot labels of
    train_w2s, which class name each input's embedding is nearer (cosine), no label at all
    (embedding zero-shot classification, as in Yin et al. 2019; the label-free elicitation
    baseline of Burns et al. 2022)."""
    return ctx.train(ctx.texts, zero_shot_labels(ctx, p), p.loss, p.loss_params).predict_proba(ctx.test_texts)


@register_method("ccs", CCSParams, uses_features=True, uses_label_names=True)
def ccs(ctx: MethodContext, p: CCSParams) -> np.ndarray:
    """Zero-label baseline: the student trains on contrast-consistent search labels of train_w2s,
    found in the strong model's own features with no label at all, the sign fixed by the class
    names (Burns et al. 2022, "Discovering latent knowledge ... without supervision")."""
    return ctx.train(ctx.texts, ccs_labels(ctx, p), p.loss, p.loss_params).predict_proba(ctx.test_texts)


class LatentWeakParams(CCSParams):
    signal: Literal["zero_shot", "ccs"] = Field("zero_shot", description="the strong model's label-free signal")
    weight: float = Field(0.5, ge=0, le=1, description="share of the latent label in the student's target")


@register_method("latent_weak", LatentWeakParams, uses_features=True, uses_label_names=True)
def latent_weak(ctx: MethodContext, p: LatentWeakParams) -> np.ndarray:
    """The strong model's label-free signal (zero-shot names or CCS, Burns et al. 2022), oriented to
    agree with the weak labels, mixed with them: target = (1 - weight) * weak + weight * latent."""
    if p.signal == "ccs":
        latent = ccs_labels(ctx, p, reference=ctx.weak_labels[:, 1])
    else:
        latent = zero_shot_labels(ctx, p)
        if np.corrcoef(latent[:, 1], ctx.weak_labels[:, 1])[0, 1] < 0:  # a name order opposite to the labels
            latent = latent[:, ::-1].copy()
    targets = (1 - p.weight) * ctx.weak_labels + p.weight * latent
    return ctx.train(ctx.texts, targets, p.loss, p.loss_params).predict_proba(ctx.test_texts)
