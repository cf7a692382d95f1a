"""A boosted ensemble of weak supervisors (SAMME, Zhu et al. 2009, by weighted resampling).

EnsemW2S (Agrawal et al. 2024, "EnsemW2S: can an ensemble of LLMs be leveraged to obtain a
stronger LLM?") trains the weak experts in turn, AdaBoost-style, each on the examples its
predecessors got wrong, and lets their weighted vote supervise the strong student. Here each
member is a fresh classifier of one ladder model (or of several in turn) fit on a resample of
``train_gt`` drawn with the boosting weights (boosting by resampling, Freund & Schapire 1996: our
classifiers take soft targets, not sample weights); the first member sees all of ``train_gt``. Member t's weight is
the SAMME weight α_t = log((1 − err_t) / err_t) + log(k − 1) of its weighted error on
``train_gt``; the ensemble's soft label of an example is the α-weighted mean of the members'
probabilities (so the student trains on soft labels on the weak model's scale). Only the ground
truth of ``train_gt`` is read, as for any weak model. Formulas from the papers; code written fresh.
"""

from __future__ import annotations

import numpy as np

from ..data import one_hot
from ..models import ModelFactory

BOOST_VERSION = 1
"""Bump when `boosted` changes what it computes: its cached stages are then recomputed."""


def boosted(
    members: list[ModelFactory], seed: int, texts: list, labels: np.ndarray, w2s_texts: list, rounds: int, k: int = 2
) -> dict[str, np.ndarray]:
    """Fit up to `rounds` members by SAMME on (texts, labels), member t a fresh classifier of
    ``members[t % len(members)]`` (one ladder rung, or several kinds in turn); returns the ensemble's
    soft labels of `w2s_texts` (``w2s``), each member's weight (``alpha``) and weighted training
    error (``error``). Boosting stops early when a member is no better than chance or perfect."""
    from .stages import fit_predict  # the one place a stage's classifier is fit

    n = len(texts)
    weights = np.full(n, 1.0 / n)
    rng = np.random.default_rng(seed)
    votes, alphas, errors = np.zeros((len(w2s_texts), k)), [], []
    for t in range(rounds):
        idx = np.arange(n) if t == 0 else rng.choice(n, size=n, p=weights)
        out = fit_predict(
            members[t % len(members)],
            seed + t,
            [texts[i] for i in idx],
            one_hot(labels[idx], k),
            "xent",
            {},
            {"gt": texts, "w2s": w2s_texts},
        )
        miss = out["gt"].argmax(1) != labels
        err = float(weights[miss].sum())
        if alphas and err >= 1 - 1 / k:  # no better than chance on the weighted data: stop
            break
        alpha = max(float(np.log(max(1 - err, 1e-10) / max(err, 1e-10)) + np.log(k - 1)), 1e-3)
        votes += alpha * out["w2s"]
        alphas.append(alpha)
        errors.append(err)
        if err == 0:  # a perfect member: nothing left to reweight
            break
        weights *= np.exp(alpha * miss)
        weights /= weights.sum()
    return {
        "w2s": (votes / sum(alphas)).astype(np.float32),
        "alpha": np.asarray(alphas),
        "error": np.asarray(errors),
    }
