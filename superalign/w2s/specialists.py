"""Specialist weak teachers and hierarchical co-supervision (Liu & Alahi 2024).

"Co-supervised learning: improving weak-to-strong generalization with hierarchical mixture of
experts" (Liu & Alahi 2024) supervises the strong student with several *specialised* weak
teachers, each strong on one part of the data, progressively: the student first learns from a
generalist, then each example is taught by the specialist the student agrees with most
(teacher assignment), and examples where even that teacher contradicts the student are dropped
(noise reduction), level by level from coarse to fine.

Here a specialist is the weak model fit on one of k topic clusters of ``train_gt`` (k-means on
TF-IDF vectors of the texts: no label is used to form the clusters); a level is the set of k
specialists, and `co_supervision_hier` runs `co_supervision`'s assignment and denoising with the
generalists plus each level's specialists in turn. Formulas from the paper; code written fresh.
"""

from __future__ import annotations

import functools

import numpy as np
from pydantic import Field

from .ensembles import CoSupervisionParams, _members, _stack, co_supervise
from .methods import MethodContext, Supervisor, register_method


@functools.lru_cache(maxsize=16)
def _clusters(texts: tuple, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    flat = [" / ".join(t) if isinstance(t, (tuple, list)) else t for t in texts]
    x = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=20_000).fit_transform(flat)
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(x)


def topic_cluster(texts, labels: np.ndarray, k: int, i: int, seed: int) -> np.ndarray:
    """Indices of cluster `i` of `k` TF-IDF k-means clusters of `texts` (seeded); a cluster with
    fewer than 2 classes or 10 examples cannot train a specialist, so all indices are returned."""
    ids = _clusters(tuple(texts), k, seed)
    idx = np.flatnonzero(ids == i)
    return idx if len(idx) >= 10 and len(np.unique(labels[idx])) == 2 else np.arange(len(texts))


class HierCoSupervisionParams(CoSupervisionParams):
    levels: list[int] = Field(
        default_factory=lambda: [2, 4],
        description="specialists per level, coarse to fine: the weak model fit on each of k topic clusters of train_gt",
    )


def _hier_members(p: HierCoSupervisionParams, weak: str) -> list[Supervisor]:
    levels = [(j, k, i) for j, k in enumerate(p.levels) for i in range(k)]
    return [*_members(p, weak), *(Supervisor(weak, 100 * (j + 1) + i, cluster=(k, i)) for j, k, i in levels)]


@register_method("co_supervision_hier", HierCoSupervisionParams, supervisors=_hier_members)
def co_supervision_hier(ctx: MethodContext, p: HierCoSupervisionParams) -> np.ndarray:
    """Hierarchical co-supervision: the student learns from the generalist teachers, then, level by
    level, each example is taught by the specialist (the weak model fit on one topic cluster of
    train_gt) or generalist it agrees with most, disagreeing examples dropped (Liu & Alahi 2024)."""
    labels = _stack(ctx).astype(np.float32)
    n_general = len(labels) - sum(p.levels)
    general = labels[:n_general]
    model = ctx.train(ctx.texts, general.mean(0), p.loss, p.loss_params)
    start = n_general
    for k in p.levels:
        teachers = np.concatenate([general, labels[start : start + k]])
        model = co_supervise(ctx, p, teachers, model)
        start += k
    return model.predict_proba(ctx.test_texts)
