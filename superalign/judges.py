"""Judges: score (prompt, response) pairs for a generation task's metric.

A *gold* judge only evaluates; a *weak* judge (a weak reward model) may supervise. Both here are
classifiers of the full text ``prompt + response`` fit on human labels: `ClassifierJudge` gives
P(class 1) (for ``sentiment_continuation``: P(positive)). `fluency` is the guard that makes a
degenerate policy visible: the perplexity of a response under a frozen reference LM, and the
share of distinct word bigrams.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .data import Dataset, fingerprint, one_hot
from .llm import Policy
from .models import ModelFactory


class ClassifierJudge:
    """P(class 1) of ``prompt + response`` by a classifier of `factory` fit on human labels.

    ``key`` identifies the judge: its model, recipe, seed and training data, so that scores can be
    cached by it.
    """

    def __init__(self, factory: ModelFactory, seed: int = 0):
        self.factory, self.seed = factory, seed
        self.key = ""
        self._clf = None

    def fit(self, data: Dataset) -> ClassifierJudge:
        from .losses import get_loss

        self._clf = self.factory(self.seed).fit(list(data.texts), one_hot(data.labels), get_loss("xent"))
        self.key = fingerprint("judge", self.factory.key, self.factory.settings, self.seed, data.texts, data.labels)
        return self

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if self._clf is None:
            raise RuntimeError("score called before fit")
        texts = [p + r for p, r in zip(prompts, responses)]
        return self._clf.predict_proba(texts)[:, 1] if texts else np.zeros(0)


def distinct_bigrams(text: str) -> float:
    """Share of distinct word bigrams (1 = no repetition; "good good good" -> 0.5)."""
    words = text.split()
    pairs = list(zip(words, words[1:]))
    return len(set(pairs)) / len(pairs) if pairs else 1.0


def fluency(reference: Policy, prompts: Sequence[str], responses: Sequence[str]) -> dict[str, float]:
    """Mean per-character perplexity of `responses` under the frozen `reference` policy
    (exp of the negative log-probability per character, comparable across tokenizers) and the
    mean share of distinct bigrams."""
    lp = reference.logprob(list(prompts), list(responses))
    chars = np.array([max(1, len(r)) for r in responses], dtype=np.float64)
    return {
        "ppl_per_char": float(np.exp(np.mean(-lp / chars))),
        "distinct_bigrams": float(np.mean([distinct_bigrams(r) for r in responses])),
    }
