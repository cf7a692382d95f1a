"""Learnt invariances: the learner rewrites the edits the attacker has found back to one form.

Every adversarial edit the loop records is a label-preserving rewrite of a pool text (`perturb.py`).
Aligning an edit with its source (`difflib` over word tokens, case-insensitive) gives the phrase
substitutions the attacker used ("film" -> "picture", "good" -> "not bad", "is not" -> "isn't",
an inserted "Honestly,"). `EditCanonicalizer` joins the phrases of each substitution into one
equivalence class and reads every text, in training and at prediction, with each class written as
one representative: its most frequent member in the training texts, or nothing for an inserted
frame. So a substitution the attacker has used once no longer changes what the model reads,
anywhere, and the learner becomes invariant to more of the attacker's repertoire each round.

This is the synonym-encoding defence (Wang et al. 2021, *Natural Language Adversarial Defense
through Synonym Encoding*: map the words of a synonym set to one code before the model reads
them), with the sets learnt from the attack log instead of taken from an embedding space, and a
close cousin of learning to restore perturbed tokens (Zhou et al. 2019, DISP). It only protects
against substitutions some attack has already used: an attacker with a new repertoire meets the
model as it was.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

from ..models.spelling import edits1, match_case
from .perturb import tokenize

_SPACE = re.compile(r"\s+")


def _phrase(tokens: Sequence[str]) -> str:
    return _SPACE.sub(" ", "".join(tokens)).strip().lower()


def _typo(a: str, b: str) -> bool:
    """Whether two single words are one character edit apart (character noise, not a substitution)."""
    return " " not in a and " " not in b and b in edits1(a)


def substitutions(source: str, edit: str) -> list[tuple[str, str]]:
    """The (source phrase, edited phrase) pairs that turn `source` into `edit`, lower case. An
    inserted or deleted phrase pairs with "" and must hold at least two tokens (a frame such as
    "Honestly," is kept; a lone inserted word is not). A typo is left out: typos are new every
    time, and a learner trained on the raw typo'd edit learns more from it than from a rule that
    would rewrite it back to its source."""
    a, b = tokenize(source), tokenize(edit)
    la, lb = [t.lower() for t in a], [t.lower() for t in b]
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        src, new = _phrase(a[i1:i2]), _phrase(b[j1:j2])
        lone = not (src and new) and sum(1 for t in tokenize(src or new) if t.strip()) < 2  # one inserted token
        if src == new or lone or _typo(src, new):
            continue
        out.append((src, new))
    return out


class EditCanonicalizer:
    """Writes every phrase of a learnt substitution class as the class's representative."""

    def __init__(self) -> None:
        self.classes: list[set[str]] = []
        self.representative: dict[str, str] = {}  # member -> what it is written as
        self._passes: list[re.Pattern[str]] = []

    def fit(self, pairs: Iterable[tuple[str, str]], texts: Sequence[str] = ()) -> EditCanonicalizer:
        """Learn the classes from (edit, source) text pairs; `texts` (the training texts) rank a
        class's members by frequency."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for edit, source in pairs:
            for src, new in substitutions(source, edit):
                parent[find(src)] = find(new)
        groups: dict[str, set[str]] = {}
        for x in parent:
            groups.setdefault(find(x), set()).add(x)
        self.classes = [g for g in groups.values() if len(g) > 1]
        corpus = " ".join(_SPACE.sub(" ", t).lower() for t in texts)
        self.representative = {}
        for g in self.classes:
            rep = "" if "" in g else max(g, key=lambda p: (len(_bounded(p).findall(corpus)), -len(p), p))
            self.representative.update({m: rep for m in g if m != rep and m})
        by_length: dict[int, list[str]] = {}
        for m in self.representative:
            by_length.setdefault(len(m), []).append(m)
        self._passes = [
            re.compile("|".join(_bounded(m).pattern for m in sorted(by_length[n])), re.IGNORECASE)
            for n in sorted(by_length, reverse=True)
        ]
        return self

    def __call__(self, texts: Sequence[str]) -> list[str]:
        """`texts` with every learnt phrase written as its class's representative, longest phrases
        first ("is not bad" -> "is good" before "is not" -> "isn't" could apply)."""
        if not self._passes:
            return list(texts)

        def put(m: re.Match[str]) -> str:
            return match_case(self.representative[_SPACE.sub(" ", m.group(0)).lower()], m.group(0))

        out = []
        for text in texts:
            t = text
            for p in self._passes:
                t = p.sub(put, t)
            out.append(text if t == text else _SPACE.sub(" ", t).strip())  # an untouched text stays byte for byte
        return out


def _bounded(phrase: str) -> re.Pattern[str]:
    """`phrase` as a regex that matches whole words only, any run of whitespace inside."""
    body = r"\s+".join(re.escape(p) for p in phrase.split(" "))
    return re.compile(rf"(?<![A-Za-z']){body}(?![A-Za-z'])")
