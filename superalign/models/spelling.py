"""Word recognition: a spelling front-end that undoes character noise before a model reads text.

Character noise ("great" -> "gerat") changes a subword tokenizer's pieces and moves a sentence
embedding, and no head on frozen features can learn around a word that has vanished. Pruthi et
al. 2019 (*Combating Adversarial Misspellings with Robust Word Recognition*) put a word
recogniser in front of the classifier instead. Ours is Norvig's edit-distance corrector (*How to
Write a Spelling Corrector*, 2007): the known words and their counts come from the texts the
model is fit on (no labels), and a word that is not known becomes the most frequent known word
one edit away (a deletion, transposition, replacement or insertion); a word with no known
neighbour, or shorter than ``min_length``, is kept. A word seen only once, one edit away from a
word seen more often, is taken for a misspelling of it and not learnt as a word, so typos in the
training texts (an adversarial edit the loop trains on, say) do not become known. A typo that
makes another known word ("good" -> "god") passes through, as it would for any word recogniser.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .classifiers import Classifier, LossFn, split_pairs

_WORD = re.compile(r"[A-Za-z]+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def edits1(word: str) -> set[str]:
    """Every string one deletion, transposition, replacement or insertion away from `word`."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return {
        *(a + b[1:] for a, b in splits if b),
        *(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1),
        *(a + c + b[1:] for a, b in splits if b for c in _LETTERS),
        *(a + c + b for a, b in splits for c in _LETTERS),
    }


def match_case(new: str, old: str) -> str:
    """`new` in the case of `old`: all capitals (for a word of 2+ letters), a capital first letter, or as is."""
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


class SpellingNormalizer:
    """Replaces unknown words by their most frequent known neighbour at edit distance 1."""

    def __init__(self, min_length: int = 3):
        self.min_length = min_length
        self.counts: Counter[str] = Counter()
        self._memo: dict[str, str] = {}

    def fit(self, texts: Iterable[str]) -> SpellingNormalizer:
        """Learn the known words (lower-cased) and their counts from unlabelled `texts`."""
        seen = Counter(w.lower() for t in texts for w in _WORD.findall(t))
        self.counts = Counter({w: c for w, c in seen.items() if c > 1 or not any(seen.get(x, 0) > c for x in edits1(w))})
        self._memo = {}
        return self

    def word(self, word: str) -> str:
        """`word` itself if known or short, else its correction, in the case of `word`."""
        low = word.lower()
        if len(low) < self.min_length or low in self.counts:
            return word
        if low not in self._memo:
            known = [w for w in edits1(low) if w in self.counts]
            self._memo[low] = max(known, key=lambda w: (self.counts[w], w)) if known else low
        fixed = self._memo[low]
        return word if fixed == low else match_case(fixed, word)

    def __call__(self, texts: Sequence[str]) -> list[str]:
        return [_WORD.sub(lambda m: self.word(m.group(0)), t) for t in texts]


class SpelledClassifier:
    """A `Classifier` that reads every input through a `SpellingNormalizer` fit on its training
    inputs (both sides of a pair); all `fit` options pass through to the wrapped classifier."""

    def __init__(self, inner: Classifier, normalizer: SpellingNormalizer | None = None):
        self.inner, self.normalizer = inner, normalizer or SpellingNormalizer()
        self.key = inner.key

    def _read(self, inputs: Sequence) -> list:
        pairs = split_pairs(inputs)
        if pairs is None:
            return self.normalizer(list(inputs))
        return list(zip(self.normalizer(pairs[0]), self.normalizer(pairs[1])))

    def fit(self, inputs: Sequence, soft_labels: np.ndarray, loss: LossFn, loss_name: str = "xent",
            val: tuple[Sequence, np.ndarray] | None = None, **options: Any) -> SpelledClassifier:
        pairs = split_pairs(inputs)
        self.normalizer.fit(list(inputs) if pairs is None else [*pairs[0], *pairs[1]])
        val = (self._read(val[0]), val[1]) if val is not None else None
        self.inner.fit(self._read(inputs), soft_labels, loss, loss_name=loss_name, val=val, **options)
        return self

    def predict_proba(self, inputs: Sequence) -> np.ndarray:
        return self.inner.predict_proba(self._read(inputs))
