"""Learnt invariances: substitutions found by aligning edits with their sources, and the learner
that reads text with each learnt class of phrases written one way."""

import numpy as np
import pytest

from superalign.oversight import ClassifierLearner, FeedbackLedger, Verdict
from superalign.oversight.canon import EditCanonicalizer, substitutions
from superalign.oversight.perturb import tokenize, word_edits


def test_substitutions_align_an_edit_with_its_source():
    src = "The film was good and it is not slow."
    edit = "Honestly, the picture was not bad and it isn't slow."
    assert substitutions(src, edit) == [
        ("", "honestly,"),
        ("film", "picture"),
        ("good", "not bad"),
        ("is not", "isn't"),
    ]
    assert substitutions("A great film.", "A great flm. That's my take.") == [
        ("", "that's my take.")
    ]  # a typo is no rule
    assert substitutions("I love it", "I really love it") == []  # a lone inserted word is not a frame
    assert substitutions("Same text", "same  text") == []  # case and spacing are not edits


def test_every_edit_of_the_attackers_repertoire_reads_as_its_source_once_learnt():
    rng = np.random.default_rng(0)
    sources = ["The movie is good and very funny.", "It is not a boring story, the cast is great."]
    pairs, typos = [], []
    for s in sources:
        tokens = tokenize(s)
        for i, t in enumerate(tokens):
            if t[:1].isalpha():
                for toks, kind in word_edits(tokens, i, rng):
                    (typos if kind.startswith("char") else pairs).append(("".join(toks), s))
    assert len(pairs) > 20 and typos
    canon = EditCanonicalizer().fit(pairs + typos, sources)
    for edit, source in pairs:
        assert canon([edit]) == canon([source]), (edit, source)
    for edit, source in typos:  # character noise is left to the word recogniser and to adversarial training
        assert canon([edit]) != canon([source]), (edit, source)
    assert canon(sources) == sources  # the representative is the form the training texts use


def test_representative_is_the_most_frequent_member_and_frames_are_dropped():
    pairs = [
        ("a fine picture", "a good picture"),
        ("a decent one", "a fine one"),
        ("Honestly, a good one", "a good one"),
    ]
    canon = EditCanonicalizer().fit(pairs, ["good good good", "fine", "decent decent"])
    assert {"good", "fine", "decent"} in canon.classes and canon.representative["fine"] == "good"
    assert canon(["HONESTLY, a Decent FINE film"]) == ["a Good GOOD film"]
    assert canon(["finest, refined"]) == ["finest, refined"]  # whole words only
    assert EditCanonicalizer().fit([])(["  untouched  "]) == ["  untouched  "]
    assert canon(["  no  rule\n applies "]) == ["  no  rule\n applies "]  # untouched text is kept byte for byte


class Keyword:
    """A classifier that says 1 when it reads "masterpiece", and records what it is fit on."""

    key = "keyword"

    def fit(self, texts, soft_labels, loss, loss_name="xent", sample_weight=None, gold_mask=None):
        self.fit_texts = list(texts)
        return self

    def predict_proba(self, texts):
        hit = np.array([float("masterpiece" in t.lower()) for t in texts])
        return np.c_[1 - hit, hit]


@pytest.mark.parametrize("canonicalize", [False, True])
def test_a_learner_that_canonicalizes_is_no_longer_flipped_by_a_substitution_it_has_seen(canonicalize):
    ledger = FeedbackLedger(2)
    ledger.add_critic("a masterpiece of a film", Verdict.from_probs(np.array([0.1, 0.9])))
    ledger.add_critic("another masterpiece", Verdict.from_probs(np.array([0.2, 0.8])))  # the more frequent form
    ledger.add_edit("a gem of a film", "a masterpiece of a film", label=1, weight=0.9)
    fb = ledger.feedback()
    assert fb.edits == [("a gem of a film", "a masterpiece of a film")]
    learner = ClassifierLearner(lambda s: Keyword(), "keyword", "xent", canonicalize=canonicalize)
    learner.update(fb)
    fresh = "Truly a gem, this one."  # a new text with the substitution the attacker used before
    assert learner.predict_proba([fresh]).argmax(1)[0] == int(canonicalize)
    assert learner._clf.fit_texts[-1] == ("a masterpiece of a film" if canonicalize else "a gem of a film")
    assert learner.predict_proba(["a masterpeice"]).argmax(1)[0] == 0  # a substitution never seen is not undone
