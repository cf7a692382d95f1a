"""Bootstrapping chains (Burns et al. 2023, sec. 4.3.1): weak -> rung 1 -> ... -> strong.

Each intermediate rung is trained on the labels of the rung below and relabels ``train_w2s`` for
the rung above. So that no example is labelled by a model that trained on it (the rule the weak
model follows too), a rung relabels out of fold: ``folds`` models, each fit on the other folds,
label their held-out fold; its test predictions are the folds' mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..models import ModelFactory


def relabel_out_of_fold(
    factory: ModelFactory,
    seed: int,
    texts: Sequence[str],
    labels: np.ndarray,
    test_texts: Sequence[str],
    folds: int = 2,
) -> dict[str, np.ndarray]:
    """Fit rung `factory` on (texts, soft labels); return its out-of-fold labels of `texts` ("w2s")
    and its fold-averaged test probabilities ("test")."""
    from ..losses import get_loss

    order = np.random.default_rng(seed).permutation(len(texts))
    parts = np.array_split(order, folds)
    relabelled = np.zeros_like(labels, dtype=np.float64)
    test = 0.0
    for i, held in enumerate(parts):
        train = np.concatenate([p for j, p in enumerate(parts) if j != i])
        model = factory(seed)
        model.fit([texts[j] for j in train], labels[train], get_loss("xent"), loss_name="xent")
        relabelled[held] = model.predict_proba([texts[j] for j in held])
        test = test + model.predict_proba(test_texts) / folds
    return {"w2s": relabelled, "test": np.asarray(test)}
