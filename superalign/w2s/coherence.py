"""Internal coherence maximization (ICM), a registered label intervention.

Wen et al. 2025, "Unsupervised elicitation of language models": search for the labelling of the
unlabelled inputs that the strong model finds most *mutually predictable* (each label predicted
from all the others), by simulated annealing, and train on it. The paper's predictor is the LM
in context; here it is a logistic-regression probe on the strong model's frozen features
(standardised), cross-fitted in K fixed folds so that each label is scored by a probe that never
saw it:

    U(y) = sum_i log P(y_i | x_i; probe fit on the folds without i)

A step proposes flipping labels the cross-fitted probe disagrees with (drawn in proportion to its
disagreement), as many 0 -> 1 as 1 -> 0, so the class balance of the start is kept (without a
logical-consistency term, which single-input binary tasks do not have, an unbalanced search
drifts to the trivially predictable one-class labelling); it is accepted if U rises, else with
probability exp(dU / T), T falling linearly from `anneal_t0` to 0. The search starts from the weak
labels (`init: weak`) or, with no label at all, from the zero-shot class-name labels
(`init: zero_shot`, as `zero_shot` in `elicit.py`). On pair inputs the features are f(A) - f(B).
Written from the paper's description (no code taken).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..data import one_hot
from ..models import split_pairs
from .elicit import ZeroShotParams, _standardise, zero_shot_labels
from .methods import MethodContext, register_method


def mutual_predictability(x: np.ndarray, y: np.ndarray, folds: list[np.ndarray], c: float) -> tuple[float, np.ndarray]:
    """U(y) and the cross-fitted P(y = 1 | x) of every row (module docstring)."""
    from sklearn.linear_model import LogisticRegression

    q = np.empty(len(y))
    for held in folds:
        train = np.ones(len(y), dtype=bool)
        train[held] = False
        q[held] = LogisticRegression(C=c, max_iter=300).fit(x[train], y[train]).predict_proba(x[held])[:, 1]
    p_y = np.clip(np.where(y == 1, q, 1 - q), 1e-6, 1.0)
    return float(np.log(p_y).sum()), q


def _balanced_flips(y: np.ndarray, q: np.ndarray, per_side: int, rng: np.random.Generator) -> np.ndarray | None:
    """`y` with as many labels of each class flipped (up to `per_side`), drawn among those the
    cross-fitted probe `q` disagrees with, in proportion to its disagreement; None if one class has none."""
    out, gap = y.copy(), np.abs(y - q)
    cands = [np.flatnonzero((y == side) & (gap > 0.5)) for side in (0, 1)]
    k = min(per_side, *map(len, cands))
    if k == 0:
        return None
    for side, cand in enumerate(cands):
        out[rng.choice(cand, size=k, replace=False, p=gap[cand] / gap[cand].sum())] = 1 - side
    return out


def icm_search(
    x: np.ndarray,
    y0: np.ndarray,
    steps: int = 20,
    flip: float = 0.02,
    folds: int = 4,
    anneal_t0: float = 2.0,
    c: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Hard 0/1 labels of the rows of `x` that maximise U by annealed, class-balanced flips from `y0`."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y0, dtype=np.int64).copy()
    if min(np.bincount(y, minlength=2)) < folds:  # a fold's probe would see one class only
        return y
    fold_of = rng.permutation(len(y)) % folds
    parts = [np.flatnonzero(fold_of == k) for k in range(folds)]
    score, q = mutual_predictability(x, y, parts, c)
    per_side = max(1, round(flip * len(y) / 2))
    for t in range(steps):
        proposal = _balanced_flips(y, q, per_side, rng)
        if proposal is None:  # nothing the probe disagrees with on one side: a local optimum
            break
        new_score, new_q = mutual_predictability(x, proposal, parts, c)
        temperature = anneal_t0 * (1 - t / steps)
        if new_score > score or (temperature > 0 and rng.random() < np.exp((new_score - score) / temperature)):
            y, score, q = proposal, new_score, new_q
    return y


class ICMParams(ZeroShotParams):
    init: Literal["weak", "zero_shot"] = Field("weak", description="start from the weak labels, or from no label")
    steps: int = Field(20, ge=1, le=1000, description="annealing steps (each fits `folds` probes)")
    flip: float = Field(0.02, gt=0, le=0.5, description="share of labels a step proposes to flip")
    folds: int = Field(4, ge=2, le=20, description="cross-fitting folds of the mutual-predictability score")
    anneal_t0: float = Field(2.0, ge=0, description="initial temperature, in units of summed log-probability")
    C: float = Field(1.0, gt=0, description="inverse L2 strength of the logistic-regression probe")


@register_method("icm", ICMParams, uses_features=True, uses_label_names=True)
def icm(ctx: MethodContext, p: ICMParams) -> np.ndarray:
    """Train on the labelling of train_w2s the strong model's features find most mutually
    predictable, found by annealing from the weak labels or from none (internal coherence
    maximization, Wen et al. 2025, "Unsupervised elicitation of language models")."""
    pairs = split_pairs(ctx.texts)
    x = ctx.features(list(ctx.texts)) if pairs is None else ctx.features(pairs[0]) - ctx.features(pairs[1])
    start = ctx.weak_labels if p.init == "weak" else zero_shot_labels(ctx, p)
    y = icm_search(_standardise(x), start.argmax(1), p.steps, p.flip, p.folds, p.anneal_t0, p.C)
    return ctx.train(ctx.texts, one_hot(y, 2), p.loss, p.loss_params).predict_proba(ctx.test_texts)
