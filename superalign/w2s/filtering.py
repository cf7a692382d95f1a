"""Uncertainty filtering with strong relabelling, a registered label intervention.

Shi et al. 2025, "Mitigating overfitting in weak-to-strong generalization" (two stages): the
weak labels the weak model is least sure of are the noisiest, and a strong student fit to them
memorises the weak model's mistakes. Stage 1 drops them and trains the strong model on the
rest; stage 2 lets that model label the dropped examples and trains a fresh strong student on
the union. Written from the paper's description (no code taken).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..data import most_certain, one_hot
from .methods import InterventionParams, MethodContext, _fit_subset, register_method


class UncertaintyRelabelParams(InterventionParams):
    drop: float = Field(0.3, gt=0, lt=1, description="share of train_w2s with the least certain weak labels")
    hard: bool = Field(True, description="the stage-1 student relabels with its argmax (false: its probabilities)")


@register_method("uncertainty_relabel", UncertaintyRelabelParams)
def uncertainty_relabel(ctx: MethodContext, p: UncertaintyRelabelParams) -> np.ndarray:
    """Drop the `drop` share of least certain weak labels, train on the rest, let that strong
    model relabel the dropped examples, train a fresh student on the union (Shi et al. 2025,
    "Mitigating overfitting in weak-to-strong generalization")."""
    keep = most_certain(ctx.weak_labels, 1 - p.drop)
    texts = [t for t, k in zip(ctx.texts, keep) if k]
    if len(texts) < 2 or len(np.unique(ctx.weak_labels[keep].argmax(1))) < 2:
        return _fit_subset(ctx, keep, ctx.weak_labels, p)  # raises the one-line DataError
    first = ctx.train(texts, ctx.weak_labels[keep], p.loss, p.loss_params)
    dropped = [t for t, k in zip(ctx.texts, keep) if not k]
    targets = ctx.weak_labels.copy()
    if dropped:
        relabel = first.predict_proba(dropped)
        targets[~keep] = one_hot(relabel.argmax(1), relabel.shape[1]) if p.hard else relabel
    return ctx.train(ctx.texts, targets, p.loss, p.loss_params).predict_proba(ctx.test_texts)
