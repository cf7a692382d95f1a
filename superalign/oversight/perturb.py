"""Meaning-preserving text edits and a greedy search for the edits that flip a classifier.

The search is the greedy word-importance-ranking recipe of TextAttack (Morris et al. 2020),
as in TextFooler (Jin et al. 2020) for word swaps and DeepWordBug (Gao et al. 2018) for
character noise: rank words by how much deleting each lowers the model's probability of its
current label, then edit the most important words one at a time, keeping an edit only when
it lowers that probability, until the label flips or the edit budget is spent.

Edits (built in; TextAttack itself is too heavy a dependency and WordNet / counter-fitted
embeddings need downloads, so a small curated table is used and documented here):
  synonym   a swap from a hand-written table of common review / opinion words (same polarity);
  negation  an adjective replaced by its negated antonym (good -> "not bad") or the reverse
            ("not good" -> "bad"): a double-negation paraphrase that keeps the polarity;
  contract  contractions and their expansions ("is not" <-> "isn't");
  char      character noise a reader sees through: swap two inner letters, drop or double one,
            or hit a keyboard neighbour (words of 4+ letters; first and last letters kept);
  frame     a neutral sentence frame ("Honestly, ...", "... That's my take.").
Each edit is label-preserving by construction, so a flipped verdict is a learner error.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..models.spelling import match_case

_SYN_GROUPS = [
    "good fine decent nice solid",
    "great excellent terrific superb wonderful",
    "bad poor lousy weak",
    "awful terrible dreadful atrocious",
    "boring dull tedious tiresome",
    "funny amusing hilarious comical",
    "interesting intriguing engaging compelling",
    "beautiful lovely gorgeous stunning",
    "movie film picture",
    "very really extremely truly",
    "smart clever intelligent witty",
    "stupid dumb silly foolish",
    "enjoyable entertaining fun pleasant",
    "mediocre average ordinary unremarkable",
    "moving touching poignant affecting",
    "mess shambles disaster",
    "brilliant outstanding exceptional",
    "bland flat lifeless",
    "charming delightful endearing",
    "predictable formulaic",
    "memorable unforgettable",
    "ugly unattractive unsightly",
    "strong powerful forceful",
    "slow sluggish plodding",
    "fresh original novel",
    "story plot narrative",
    "actors cast performers",
    "director filmmaker",
    "script screenplay",
    "often frequently",
    "almost nearly",
    "quite rather fairly",
    "completely totally entirely utterly",
    "pretty fairly",
    "big large huge",
    "small little tiny",
    "love adore",
    "hate loathe detest",
    "like enjoy",
    "waste squander",
    "best finest",
    "worst poorest",
    "easy simple",
    "hard difficult",
]
SYNONYMS: dict[str, list[str]] = {}
for _g in _SYN_GROUPS:
    _ws = _g.split()
    for _w in _ws:
        SYNONYMS.setdefault(_w, []).extend(x for x in _ws if x != _w and x not in SYNONYMS.get(_w, []))

_ANT_PAIRS = [
    ("good", "bad"),
    ("interesting", "boring"),
    ("funny", "unfunny"),
    ("smart", "stupid"),
    ("happy", "sad"),
    ("beautiful", "ugly"),
    ("clever", "dumb"),
    ("exciting", "dull"),
    ("original", "derivative"),
    ("strong", "weak"),
    ("enjoyable", "unpleasant"),
    ("successful", "unsuccessful"),
    ("memorable", "forgettable"),
    ("fresh", "stale"),
    ("easy", "hard"),
    ("convincing", "unconvincing"),
    ("coherent", "incoherent"),
    ("satisfying", "unsatisfying"),
]
ANTONYMS: dict[str, str] = {}
for _a, _b in _ANT_PAIRS:
    ANTONYMS[_a], ANTONYMS[_b] = _b, _a

_INTENSIFIERS = {
    "very",
    "really",
    "so",
    "too",
    "extremely",
    "quite",
    "truly",
    "rather",
    "most",
    "more",
    "less",
    "pretty",
    "fairly",
}
CONTRACTIONS = {
    "is not": "isn't",
    "are not": "aren't",
    "was not": "wasn't",
    "were not": "weren't",
    "does not": "doesn't",
    "do not": "don't",
    "did not": "didn't",
    "cannot": "can't",
    "will not": "won't",
    "it is": "it's",
    "that is": "that's",
    "there is": "there's",
    "has not": "hasn't",
    "have not": "haven't",
    "could not": "couldn't",
}
_EXPANSIONS = {v: k for k, v in CONTRACTIONS.items()}
FRAMES = ["Honestly, {s}", "{s} That's my take.", "I have to say, {s}", "{s} Just my opinion."]
_NEIGHBOURS = dict(
    zip(
        "qwertyuiopasdfghjklzxcvbnm",
        [
            "wa",
            "qes",
            "wrd",
            "etf",
            "ryg",
            "tuh",
            "yij",
            "uok",
            "ipl",
            "ol",
            "qsz",
            "awdx",
            "sefc",
            "drgv",
            "fthb",
            "gyjn",
            "hukm",
            "jilm",
            "kop",
            "xsa",
            "zcd",
            "xvf",
            "cbg",
            "vnh",
            "bmj",
            "nk",
        ],
    )
)
_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\s+|[^A-Za-z\s]+")


def tokenize(text: str) -> list[str]:
    """Words, whitespace and punctuation runs; ``"".join(tokenize(t)) == t``."""
    return _TOKEN.findall(text)


def _is_word(tok: str) -> bool:
    return tok[:1].isalpha()


def char_noise(word: str, rng: np.random.Generator, n: int) -> list[str]:
    """Up to `n` distinct noisy spellings (first and last letters kept)."""
    if len(word) < 4:
        return []
    out: set[str] = set()
    for _ in range(4 * n):
        i = int(rng.integers(1, len(word) - 2)) if len(word) > 3 else 1
        op = int(rng.integers(4))
        if op == 0:
            w = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif op == 1:
            w = word[:i] + word[i + 1 :]
        elif op == 2:
            w = word[:i] + word[i] + word[i:]
        else:
            nb = _NEIGHBOURS.get(word[i].lower(), "")
            w = word[:i] + nb[int(rng.integers(len(nb)))] + word[i + 1 :] if nb else word
        if w != word:
            out.add(w)
        if len(out) >= n:
            break
    return sorted(out)


def word_edits(tokens: list[str], i: int, rng: np.random.Generator, n_char: int = 2) -> list[tuple[list[str], str]]:
    """Candidate edits of the word at token `i`: (new token list, description)."""
    word = tokens[i]
    lw = word.lower()
    out: list[tuple[list[str], str]] = []

    def put(new: str, desc: str, start: int = i, stop: int = i + 1) -> None:
        # Merged tokens become "" so that token positions never shift.
        out.append((tokens[:start] + [new] + [""] * (stop - start - 1) + tokens[stop:], desc))

    for s in SYNONYMS.get(lw, []):
        put(match_case(s, word), f"synonym {word}->{s}")
    if lw in ANTONYMS:
        prev = _prev_word(tokens, i)
        before = tokens[prev].lower() if prev is not None else ""
        if before in ("not", "never"):  # "not good" -> "bad"
            put(match_case(ANTONYMS[lw], tokens[prev]), f"negation {tokens[prev]} {word}->{ANTONYMS[lw]}", prev, i + 1)
        elif before not in _INTENSIFIERS:  # "good" -> "not bad" (but never "very not bad")
            put(match_case(f"not {ANTONYMS[lw]}", word), f"negation {word}->not {ANTONYMS[lw]}")
    if lw in _EXPANSIONS:
        put(match_case(_EXPANSIONS[lw], word), f"contract {word}->{_EXPANSIONS[lw]}")
    nxt = _next_word(tokens, i)
    if nxt is not None and f"{lw} {tokens[nxt].lower()}" in CONTRACTIONS:
        c = CONTRACTIONS[f"{lw} {tokens[nxt].lower()}"]
        put(match_case(c, word), f"contract {word} {tokens[nxt]}->{c}", i, nxt + 1)
    for w in char_noise(word, rng, n_char):
        put(w, f"char {word}->{w}")
    return out


def _prev_word(tokens: list[str], i: int) -> int | None:
    j = i - 1
    while j >= 0 and not tokens[j].strip():
        j -= 1
    return j if j >= 0 and _is_word(tokens[j]) else None


def _next_word(tokens: list[str], i: int) -> int | None:
    j = i + 1
    while j < len(tokens) and not tokens[j].strip():
        j += 1
    return j if j < len(tokens) and _is_word(tokens[j]) else None


def frames(text: str) -> list[tuple[str, str]]:
    """The text inside each neutral frame (lower-cased first letter after a leading frame)."""
    s = text.strip()
    if not s:
        return []
    inner = s if s.startswith(("I ", "I'")) or s[:2].isupper() else s[0].lower() + s[1:]
    return [(f.format(s=s if f.startswith("{") else inner), f"frame {f!r}") for f in FRAMES]


@dataclass
class AttackResult:
    """The outcome of attacking one text: the best edited text and what it did to the model."""

    original: str
    text: str
    label: int  # the model's label for the original
    new_label: int
    p_orig: float  # the model's probability of `label` before
    p_new: float  # ... and after the edits
    edits: list[str] = field(default_factory=list)
    queries: int = 0

    @property
    def flipped(self) -> bool:
        return self.new_label != self.label


def _text_rng(*parts: object) -> np.random.Generator:
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(h, "little"))


def greedy_attack(
    text: str,
    predict: Callable[[Sequence[str]], np.ndarray],
    rng: np.random.Generator | None = None,
    max_edits: int = 3,
    max_words: int = 8,
    n_char: int = 2,
    max_queries: int = 120,
) -> AttackResult:
    """Greedy word-importance-ranked search for label-preserving edits that flip `predict`.

    With ``rng=None`` the character-noise candidates are a function of the text being edited,
    so attacking the same text again proposes the same candidates (and hits the feature cache).
    """
    p0 = predict([text])[0]
    y = int(p0.argmax())
    tokens = tokenize(text)
    words = [i for i, t in enumerate(tokens) if _is_word(t)]
    queries = 1
    if len(words) > 1:
        deleted = ["".join(tokens[:i] + tokens[i + 1 :]) for i in words]
        imp = p0[y] - predict(deleted)[:, y]
        queries += len(deleted)
        order = [words[j] for j in np.argsort(-imp, kind="stable")[:max_words]]
    else:
        order = words
    best, best_p, best_label, edits = tokens, float(p0[y]), y, []
    for pos in [*order, None]:  # None: a sentence frame, tried last
        if len(edits) >= max_edits or best_label != y or queries >= max_queries:
            break
        if pos is None:
            cands = [([t], d) for t, d in frames("".join(best))]
        elif _is_word(best[pos]) and best[pos] == tokens[pos]:  # not yet edited or merged away
            cands = word_edits(best, pos, rng if rng is not None else _text_rng("".join(best), pos), n_char)
        else:
            continue
        cands = cands[: max(0, max_queries - queries)]
        if not cands:
            continue
        probs = predict(["".join(c) for c, _ in cands])
        queries += len(cands)
        k = int(probs[:, y].argmin())
        if probs[k, y] < best_p:
            best, best_p, best_label = cands[k][0], float(probs[k, y]), int(probs[k].argmax())
            edits.append(cands[k][1])
    return AttackResult(text, "".join(best), y, best_label, float(p0[y]), best_p, edits, queries)
