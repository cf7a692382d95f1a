"""The word-recognition front-end: what it corrects, what it keeps, and how it wraps a classifier."""

import numpy as np
import pytest

from superalign.losses import get_loss
from superalign.models import ModelFactory, ProbeConfig, SpelledClassifier, SpellingNormalizer
from superalign.models.spelling import edits1, english_lexicon
from superalign.oversight.perturb import char_noise, greedy_attack

TEXTS = [
    "The film was great and the acting wonderful.",
    "A boring, terrible story; the actors seem tired.",
    "Great film. Great cast.",
    "What a wonderful story.",
]


def test_edits1_holds_every_single_edit():
    e = edits1("cat")
    assert {"at", "ct", "ca", "act", "cta", "bat", "cot", "cart", "cats", "acat"} <= e
    assert "cat" in e  # a replacement by the same letter
    assert "tac" not in e and "dog" not in e


@pytest.mark.parametrize("word", ["wonderful", "terrible", "acting", "boring", "story", "great", "actors"])
def test_character_noise_of_a_known_word_is_undone(word):
    norm = SpellingNormalizer().fit(TEXTS)
    noisy = char_noise(word, np.random.default_rng(0), 6)
    assert noisy
    for typo in noisy:
        if typo not in norm.counts:  # a typo that makes another known word passes through
            assert norm.word(typo) == word, typo


def test_known_short_and_hopeless_words_are_kept_and_case_follows_the_input():
    norm = SpellingNormalizer().fit(TEXTS)
    assert norm.word("film") == "film" and norm.word("ab") == "ab" and norm.word("xylophone") == "xylophone"
    assert norm.word("Gerat") == "Great" and norm.word("GERAT") == "GREAT" and norm.word("gerat") == "great"
    text = "  Gerat  film!!  (so  wodnerful)\n"
    assert norm([text]) == ["  Great  film!!  (so  wonderful)\n"]  # only the words change


def test_the_most_frequent_neighbour_wins():
    norm = SpellingNormalizer().fit(["bat", "cat cat cat", "hat"])
    assert norm.word("xat") == "cat"
    assert norm.fit(["bat bat bat", "cat"]).word("xat") == "bat"  # a refit forgets the old counts


class Recorder:
    """A classifier that records what it is given and says 1 when it sees `keyword`."""

    key = "recorder"

    def __init__(self, keyword="masterpiece"):
        self.keyword, self.seen = keyword, {}

    def fit(self, texts, soft_labels, loss, loss_name="xent", val=None, sample_weight=None, gold_mask=None):
        self.seen.update(fit=list(texts), val=val, sample_weight=sample_weight)
        return self

    def predict_proba(self, texts):
        self.seen["predict"] = list(texts)
        hit = np.array([self.keyword in str(t).lower() for t in texts], dtype=float)
        return np.c_[1 - hit, hit]


def test_spelled_classifier_reads_normalized_inputs_and_passes_fit_options_through():
    inner = Recorder()
    clf = SpelledClassifier(inner)
    w = np.array([0.5, 1.0])
    clf.fit(
        ["a masterpiece of a film", "a dull film"],
        np.eye(2),
        get_loss("xent"),
        val=(["a masterpeice"], np.eye(2)[:1]),
        sample_weight=w,
    )
    assert inner.seen["val"][0] == ["a masterpiece"] and inner.seen["sample_weight"] is w
    assert clf.predict_proba(["a mastrepiece, this flim"])[0, 1] == 1.0
    assert inner.seen["predict"] == ["a masterpiece, this film"]
    assert "mastrepiece" not in clf.normalizer.counts  # predicting never teaches it words
    clf.fit([("a masterpiece", "a dull film")], np.eye(2)[:1], get_loss("xent"))  # pairs: both sides are read
    clf.predict_proba([("a masterpeice", "dull flm")])
    assert inner.seen["predict"] == [("a masterpiece", "dull film")]


def test_character_noise_no_longer_flips_a_spelled_classifier():
    texts = ["a masterpiece indeed", "a poor effort indeed"]
    plain, spelled = Recorder(), SpelledClassifier(Recorder()).fit(texts, np.eye(2), get_loss("xent"))
    attack = dict(rng=None, max_edits=3, max_words=4, n_char=4, max_queries=200)
    assert greedy_attack(texts[0], plain.predict_proba, **attack).flipped
    assert not greedy_attack(texts[0], spelled.predict_proba, **attack).flipped


def test_model_factory_and_loop_learner_use_the_front_end():
    plain, spelled = ModelFactory("tfidf", ProbeConfig()), ModelFactory("tfidf", ProbeConfig(), spelling="english")
    corpus = ModelFactory("tfidf", ProbeConfig(), spelling="corpus")
    assert isinstance(spelled(0), SpelledClassifier) and not isinstance(plain(0), SpelledClassifier)
    assert spelled(0).normalizer.lexicon is english_lexicon() and not corpus(0).normalizer.lexicon
    assert (
        spelled.key == plain.key and len({repr(f.settings) for f in (plain, spelled, corpus)}) == 3
    )  # cached stages stay apart
    with pytest.raises(ValueError, match="unknown spelling lexicon"):
        ModelFactory("tfidf", ProbeConfig(), spelling="klingon")(0)

    from superalign.oversight.learner import ClassifierLearner
    from superalign.oversight.types import Feedback, OversightError

    learner = ClassifierLearner(spelled, spelled.key, "xent")
    fb = Feedback(
        TEXTS,
        np.eye(2, dtype=np.float32)[[1, 0, 1, 1]],
        np.array([1.0, 0.5, 1.0, 1.0]),
        np.array([True, False, False, False]),
    )
    with pytest.raises(OversightError, match="takes no sample_weight"):
        learner.update(fb)  # tf-idf takes no sample weights: seen through the wrapper, and refused
    uniform = Feedback(TEXTS, fb.targets, np.ones(4), np.zeros(4, dtype=bool))
    learner.update(uniform)  # uniform feedback needs no weights
    assert learner.predict_proba(["Gerat film"]).shape == (1, 2)


def test_a_one_off_typo_in_the_training_texts_is_not_learnt_as_a_word():
    norm = SpellingNormalizer().fit(["a great film", "a great cast", "a gerat film", "an igloo"])
    assert "gerat" not in norm.counts and norm.word("gerat") == "great"
    assert "igloo" in norm.counts  # seen once, but no more frequent word is one edit away


def test_the_english_lexicon_knows_the_rare_words_a_small_corpus_misses():
    lexicon = english_lexicon()
    assert 40_000 < len(lexicon) < 70_000 and lexicon["the"] > lexicon["film"] > lexicon["compassionate"] >= 100_000
    corpus, english = SpellingNormalizer().fit(TEXTS), SpellingNormalizer(lexicon=lexicon).fit(TEXTS)
    assert corpus.word("compasionate") == "compasionate" and english.word("compasionate") == "compassionate"
    assert english.word("Gerat") == "Great" and english.word("xylophone") == "xylophone"
    assert english.fit(["a gerat film"]).word("gerat") == "great"  # a one-off typo of a lexicon word is not learnt


def test_a_neighbour_that_keeps_the_first_and_last_letters_wins():
    norm = SpellingNormalizer(lexicon={"over": 1000, "never": 10})
    assert norm.fit([]).word("nver") == "never"  # not the more frequent "over"
    assert norm.fit(["over over over", "cat"]).word("cvt") == "cat"
    norm = SpellingNormalizer().fit(["bat bat", "bet bet bet"])
    assert norm.word("bzt") == "bet"  # both keep them: the more frequent in the fit texts
    assert (
        SpellingNormalizer(lexicon={"bat": 9, "bet": 1}).fit(["bat", "bet"]).word("bzt") == "bat"
    )  # ... then in the lexicon
