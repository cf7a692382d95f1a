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

Two refinements matter on real text. A *lexicon* of English words (`english_lexicon`: SymSpell's
frequency dictionary, shipped in the ``symspellpy`` wheel) makes the rare words of an input known,
so their typos are corrected too: a training corpus of 2,000 sentences misses about one word in
eight of new text. And among the neighbours of a typo, one that keeps its first and last letters
wins (readers recognise a word by them, Rawlinson 1976; the semi-character view of Sakaguchi et
al. 2017 that Pruthi et al. build on), then the more frequent in the fit texts, then in the
lexicon: "nver" is "never", not the more frequent "over".
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, Literal

import numpy as np

from .classifiers import Classifier, split_pairs
from .training import LossFn

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


Lexicon = Literal["corpus", "english"]


@functools.cache
def english_lexicon(min_count: int = 100_000) -> dict[str, int]:
    """English words (lower case) with their Google Books Ngram counts, at least `min_count` each
    (about 54,000 words at the default): SymSpell's ``frequency_dictionary_en_82_765.txt`` (the
    intersection of SCOWL and Google Books Ngram, by Wolf Garbe), read from the ``symspellpy`` wheel."""
    text = (resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt").read_text(encoding="utf-8")
    pairs = (line.split() for line in text.splitlines())
    return {w: int(c) for w, c in pairs if int(c) >= min_count}


class SpellingNormalizer:
    """Replaces an unknown word by its best known neighbour at edit distance 1 (see the module
    docstring); known words come from the fit texts and, optionally, a `lexicon` of word counts."""

    def __init__(self, min_length: int = 3, lexicon: Mapping[str, int] | None = None):
        self.min_length = min_length
        self.lexicon: Mapping[str, int] = lexicon or {}
        self.counts: Counter[str] = Counter()  # known words of the fit texts
        self._memo: dict[str, str] = {}

    @classmethod
    def for_lexicon(cls, lexicon: Lexicon) -> SpellingNormalizer:
        """``corpus``: known words from the fit texts only; ``english``: plus `english_lexicon`."""
        if lexicon not in ("corpus", "english"):
            raise ValueError(f"unknown spelling lexicon {lexicon!r}; known: corpus, english")
        return cls(lexicon=english_lexicon() if lexicon == "english" else None)

    def _known(self, word: str) -> bool:
        return word in self.counts or word in self.lexicon

    def fit(self, texts: Iterable[str]) -> SpellingNormalizer:
        """Learn the known words (lower-cased) and their counts from unlabelled `texts`."""
        seen = Counter(w.lower() for t in texts for w in _WORD.findall(t))
        self.counts = Counter(
            {
                w: c
                for w, c in seen.items()
                if c > 1 or w in self.lexicon or not any(x in self.lexicon or seen.get(x, 0) > c for x in edits1(w))
            }
        )
        self._memo = {}
        return self

    def word(self, word: str) -> str:
        """`word` itself if known or short, else its correction, in the case of `word`."""
        low = word.lower()
        if len(low) < self.min_length or self._known(low):
            return word
        if low not in self._memo:
            known = [w for w in edits1(low) if self._known(w)]
            rank = lambda w: (w[0] == low[0] and w[-1] == low[-1], self.counts[w], self.lexicon.get(w, 0), w)  # noqa: E731
            self._memo[low] = max(known, key=rank) if known else low
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

    def fit(
        self,
        inputs: Sequence,
        soft_labels: np.ndarray,
        loss: LossFn,
        loss_name: str = "xent",
        val: tuple[Sequence, np.ndarray] | None = None,
        **options: Any,
    ) -> SpelledClassifier:
        pairs = split_pairs(inputs)
        self.normalizer.fit(list(inputs) if pairs is None else [*pairs[0], *pairs[1]])
        val = (self._read(val[0]), val[1]) if val is not None else None
        self.inner.fit(self._read(inputs), soft_labels, loss, loss_name=loss_name, val=val, **options)
        return self

    def predict_proba(self, inputs: Sequence) -> np.ndarray:
        return self.inner.predict_proba(self._read(inputs))
