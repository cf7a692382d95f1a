"""Reward modelling on (A, B) pairs (Bradley-Terry heads) and the off-the-shelf weak supervisor."""

import numpy as np
import pytest
import torch

from superalign.errors import ConfigError
from superalign.losses import LOSSES, get_loss
from superalign.models import (
    CachedEncoder,
    ProbeClassifier,
    ProbeConfig,
    ProfanityCheckClassifier,
    TfidfClassifier,
    model_key,
)
from superalign.models.heads import PairwiseHead


class WordEncoder:
    """Deterministic features: counts of a few words, plus noise dimensions seeded by the text."""

    key = "words"
    VOCAB = ["kind", "help", "rude", "harm", "the", "a"]

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        rows = []
        for t in texts:
            noise = np.random.default_rng(abs(hash(t)) % 2**32).normal(size=4)
            rows.append([t.split().count(w) for w in self.VOCAB] + list(noise))
        return np.asarray(rows, dtype=np.float32)


def _pairs(n: int, seed: int):
    """Pairs whose better side says 'kind'/'help' more and 'rude'/'harm' less; label 1 = A better."""
    rng = np.random.default_rng(seed)
    words = ["kind", "help", "rude", "harm", "the", "a"]
    inputs, labels = [], []
    for i in range(n):
        good = " ".join(rng.choice(words, 6, p=[0.3, 0.3, 0.05, 0.05, 0.15, 0.15])) + f" #{i}g"
        bad = " ".join(rng.choice(words, 6, p=[0.05, 0.05, 0.3, 0.3, 0.15, 0.15])) + f" #{i}b"
        a_good = i % 2 == 0
        inputs.append((good, bad) if a_good else (bad, good))
        labels.append(int(a_good))
    return inputs, np.asarray(labels)


def _flip(inputs):
    return [(b, a) for a, b in inputs]


def test_pairwise_head_is_bradley_terry():
    reward = torch.nn.Linear(3, 1)
    head = PairwiseHead(reward)
    x = torch.randn(5, 2, 3)
    p = torch.softmax(head(x), -1)
    r = reward(x).squeeze(-1)
    torch.testing.assert_close(p[:, 1], torch.sigmoid(r[:, 0] - r[:, 1]))
    torch.testing.assert_close(torch.softmax(head(x.flip(1)), -1), p.flip(-1))  # antisymmetric


def test_probe_learns_a_reward_on_pairs_through_the_feature_cache(tmp_path):
    enc = WordEncoder()
    clf = ProbeClassifier(CachedEncoder(enc, tmp_path), ProbeConfig(epochs=40), seed=0)
    x, y = _pairs(300, 0)
    clf.fit(x, np.eye(2)[y].astype(np.float32), get_loss("xent"))
    assert set(enc.seen) == {t for pair in x for t in pair}  # both sides encoded, each once
    test_x, test_y = _pairs(200, 1)
    p = clf.predict_proba(test_x)
    assert (p.argmax(1) == test_y).mean() > 0.9
    np.testing.assert_allclose(clf.predict_proba(_flip(test_x)), p[:, ::-1], atol=1e-6)
    with pytest.raises(ConfigError, match="trained on pairs"):
        clf.predict_proba(["a single text"])


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_trains_a_pair_reward_model_from_soft_labels(name, tmp_path):
    x, y = _pairs(200, 2)
    soft = np.where(y[:, None] == 1, [0.2, 0.8], [0.8, 0.2]).astype(np.float32)  # confident-ish weak labels
    clf = ProbeClassifier(CachedEncoder(WordEncoder(), tmp_path), ProbeConfig(epochs=20), seed=0)
    clf.fit(x, soft, get_loss(name), loss_name=name)
    test_x, test_y = _pairs(200, 3)
    assert (clf.predict_proba(test_x).argmax(1) == test_y).mean() > 0.85


def test_tfidf_is_a_linear_bradley_terry_model_on_pairs():
    x, y = _pairs(300, 4)
    clf = TfidfClassifier().fit(x, np.eye(2)[y], get_loss("xent"), loss_name="xent")
    test_x, test_y = _pairs(200, 5)
    p = clf.predict_proba(test_x)
    assert (p.argmax(1) == test_y).mean() > 0.85
    np.testing.assert_allclose(clf.predict_proba(_flip(test_x)), p[:, ::-1], atol=1e-9)
    with pytest.raises(ConfigError, match="trained on pairs"):
        clf.predict_proba(["text"])


def test_mixed_inputs_are_an_error(tmp_path):
    clf = ProbeClassifier(CachedEncoder(WordEncoder(), tmp_path))
    with pytest.raises(ConfigError, match="all texts or all"):
        clf.fit(["a", ("b", "c")], np.eye(2)[[0, 1]], get_loss("xent"))


def test_profanity_check_is_pretrained_and_ignores_training():
    texts = ["have a lovely day, friend", "you are a fucking idiot", "thanks for the help", "shut up you stupid bitch"]
    a = ProfanityCheckClassifier().fit(texts, np.eye(2)[[0, 1, 0, 1]], get_loss("xent"))
    b = ProfanityCheckClassifier().fit(texts, np.eye(2)[[1, 0, 1, 0]], get_loss("xent"))  # opposite labels
    p = a.predict_proba(texts)
    np.testing.assert_array_equal(p, b.predict_proba(texts))  # fit does nothing
    assert p.shape == (4, 2) and np.allclose(p.sum(1), 1)
    assert (p[:, 1] > 0.5).tolist() == [False, True, False, True]
    assert model_key("profanity_check").startswith("profanity_check@")
    with pytest.raises(ConfigError, match="single texts"):
        a.fit([("a", "b")], np.eye(2)[[1]], get_loss("xent"))
