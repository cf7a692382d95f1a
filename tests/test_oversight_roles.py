"""Each role of the oversight loop on its own: attackers, critics, learner, ledger, policies."""

import numpy as np
import pytest

from superalign.data import get_task, make_splits
from superalign.losses import get_loss
from superalign.models import ProbeClassifier, ProbeConfig, TfidfClassifier
from superalign.oversight import (
    ClassifierLearner,
    FeedbackLedger,
    GenerativeAttacker,
    HumanOracle,
    LLMCritic,
    OversightError,
    PerturbationAttacker,
    PoolAttacker,
    Query,
    Verdict,
    WeakCritic,
    parse_verdict,
    select_for_human,
)
from superalign.oversight.attackers import clean_generation
from superalign.oversight.oracle import critic_uncertainty_policy, disagreement_policy
from superalign.oversight.perturb import ANTONYMS, SYNONYMS, char_noise, greedy_attack, tokenize, word_edits

from .conftest import require_assets

NAMES = ["negative", "positive"]


class KeywordModel:
    """A transparent learner: P(positive) from counts of a few exact words."""

    key = "keywords"
    POS, NEG = {"good", "great", "funny", "fine"}, {"bad", "dull", "boring", "awful"}

    def predict_proba(self, texts):
        out = []
        for t in texts:
            words = [w.strip(".,!").lower() for w in t.split()]
            s = sum(w in self.POS for w in words) - sum(w in self.NEG for w in words)
            p = 1 / (1 + np.exp(-2 * s + 0.1))
            out.append([1 - p, p])
        return np.array(out)


class ScriptedLLM:
    """An LLM test double answering from a list (protocol-level tests; the real backends are in test_llm.py)."""

    key = "scripted"

    def __init__(self, answers):
        self.answers, self.seen, self.schemas = list(answers), [], []

    def chat(self, messages, max_tokens=128, temperature=0.0, json_schema=None):
        self.seen.append(messages)
        self.schemas.append(json_schema)
        return self.answers.pop(0) if self.answers else ""

    def chat_many(self, conversations, max_tokens=128, temperature=0.0, json_schema=None):
        return [self.chat(c, max_tokens, temperature, json_schema) for c in conversations]


def q(i, text, source=True):
    return Query(f"pool:{i}", text, f"pool:{i}" if source else None, "pool")


# --- perturbations -------------------------------------------------------------------------------


def test_tokenize_round_trips_and_tables_are_consistent():
    for t in ["It's not good -- really!", "  two  spaces ", "", "Ünïcode ok?"]:
        assert "".join(tokenize(t)) == t
    assert all(w not in syns for w, syns in SYNONYMS.items())
    assert "bad" in SYNONYMS["poor"] and "film" in SYNONYMS["movie"]
    assert all(ANTONYMS[ANTONYMS[w]] == w for w in ANTONYMS)


def test_word_edits_are_label_preserving_kinds():
    rng = np.random.default_rng(0)
    toks = tokenize("The movie is not good but very funny.")
    edits = {d: "".join(t) for i, tok in enumerate(toks) if tok.isalpha() for t, d in word_edits(toks, i, rng)}
    assert edits["negation not good->bad"] == "The movie is bad but very funny."  # double negation removed
    assert edits["contract is not->isn't"] == "The movie isn't good but very funny."
    assert edits["synonym movie->film"] == "The film is not good but very funny."
    assert not any(d.startswith("negation funny") for d in edits)  # never "very not unfunny"
    assert "negation good->not bad" in {d for t, d in word_edits(tokenize("a good film"), 2, rng)}
    for w in char_noise("wonderful", rng, 5):
        assert w[0] == "w" and w[-1] == "l" and w != "wonderful" and abs(len(w) - 9) <= 1


def test_greedy_attack_flips_a_keyword_model_within_the_edit_budget():
    rng = np.random.default_rng(0)
    r = greedy_attack("A good, funny film.", KeywordModel().predict_proba, rng, max_edits=3)
    assert r.label == 1 and r.flipped and r.new_label == 0 and r.p_new < 0.5 < r.p_orig
    assert 1 <= len(r.edits) <= 3 and r.text != r.original and r.queries > 1
    one = greedy_attack("good good good good funny great", KeywordModel().predict_proba, rng, max_edits=1)
    assert len(one.edits) <= 1 and not one.flipped  # one edit cannot undo five positive words


def test_perturbation_attacker_keeps_the_source_for_the_oracle():
    pool = [q(0, "A good, funny film."), q(1, "Dull and boring."), q(2, "x")]
    out = PerturbationAttacker().propose(KeywordModel(), pool, 3, np.random.default_rng(0))
    assert out and all(o.source in {"pool:0", "pool:1"} and o.attacker == "perturb" and o.meta["edits"] for o in out)
    assert any(o.meta["flipped"] for o in out)


def test_pool_attacker_ranks_by_uncertainty_and_disagreement():
    pool = [q(0, "good good good"), q(1, "nothing here"), q(2, "bad bad bad"), q(3, "good")]

    class Critic:
        key = "c"

        def judge(self, items, responses=None):  # says "negative" to everything, confidently
            return [Verdict.from_probs(np.array([0.9, 0.1])) for _ in items]

    unc = PoolAttacker(mode="uncertainty").propose(KeywordModel(), pool, 1, np.random.default_rng(0))
    assert unc[0].id == "pool:1"  # the learner is at 0.5 there
    dis = PoolAttacker(Critic(), mode="disagreement").propose(KeywordModel(), pool, 1, np.random.default_rng(0))
    assert dis[0].id == "pool:0"  # the learner is most sure of "positive" there
    with pytest.raises(OversightError):
        PoolAttacker(mode="disagreement")


def test_generative_attacker_parses_answers_and_records_the_intended_class():
    llm = ScriptedLLM(
        ['"What a dreadfully good time I had."', "1. Sure! Here it is:", "Review: A bland, dull mess.", "ok"]
    )
    out = GenerativeAttacker(llm, NAMES, "movie review sentiment").propose(
        KeywordModel(), [q(0, "a film")], 4, np.random.default_rng(0)
    )
    assert [o.text for o in out] == ["What a dreadfully good time I had.", "Sure! Here it is:", "A bland, dull mess."]
    assert all(o.source is None and o.intended in (0, 1) and o.attacker == "generative" for o in out)
    assert "negative" in llm.seen[0][0]["content"] or "positive" in llm.seen[0][0]["content"]
    assert clean_generation("\n\n- 'Quoted text'\nsecond") == "Quoted text"


# --- critics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, label, conf",
    [
        ('{"label": "positive", "confidence": 0.9, "explanation": "upbeat"}', 1, 0.9),
        ('Sure!\n```json\n{"label": "Negative", "confidence": "85%", "explanation": "dull"}\n```', 0, 0.85),
        ('{"label": 1, "confidence": 70}', 1, 0.7),
        ('{"note": "x"} then {"label": "negative", "confidence": 0.2}', 0, 0.5),  # below chance: no information
    ],
)
def test_parse_verdict_reads_messy_but_valid_answers(raw, label, conf):
    v = parse_verdict(raw, NAMES)
    assert isinstance(v, Verdict) and v.label == label and v.confidence == pytest.approx(conf)
    assert sum(v.probs) == pytest.approx(1) and v.probs[label] == pytest.approx(conf)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("I think it is positive.", "no JSON object"),
        ('{"label": "neutral", "confidence": 0.5}', "not one of"),
        ('{"label": "positive", "confidence": 1.7e9}', "not a number between 0 and 1"),
        ('{"label": "positive", "confidence": "high"}', "not a number between 0 and 1"),
        ('{"label": "positive", "confidence": 0.9', "no JSON object"),
        ('{"label": ["positive"], "confidence": 0.9}', "not one of"),
    ],
)
def test_parse_verdict_names_what_is_wrong(raw, reason):
    v = parse_verdict(raw, NAMES)
    assert isinstance(v, str) and reason in v


def test_llm_critic_retries_then_reports_unparseable():
    llm = ScriptedLLM(['{"label": "positive", "confidence": 0.8, "explanation": "fun"}', "no idea", "x", "y", "z"])
    critic = LLMCritic(llm, NAMES, "movie review sentiment", max_retries=2)
    good, bad = critic.judge([q(0, "fun film"), q(1, "meh")], responses=[1, 0])
    assert good.status == "ok" and good.label == 1 and good.explanation == "fun"
    assert bad.status == "unparseable" and bad.label is None and bad.probs == (0.5, 0.5) and bad.confidence == 0
    assert critic.calls == 4 and bad.explanation == "unparseable: y"  # 2 first answers, then 2 retries of the bad one
    assert "could not be used" in llm.seen[2][-1]["content"] and llm.seen[2][-2] == {
        "role": "assistant",
        "content": "no idea",
    }
    assert 'labelled this text as "positive"' in llm.seen[0][1]["content"]
    assert critic.judge([q(0, "fun film")], responses=[1])[0] is good and critic.calls == 4  # cached
    schema = llm.schemas[0]  # structured output asked for, in the form strict servers accept
    assert schema["properties"]["label"]["enum"] == NAMES and schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"]) == {"label", "confidence", "explanation"}


def test_weak_critic_on_real_sentiment_data():
    require_assets("vader", "static")
    from superalign.models import ModelFactory
    from superalign.oversight import LoopConfig

    data = get_task("sentiment").load()
    s = make_splits(data, {"train_gt": 500, "train_w2s": 10, "val": 10, "test": 300}, seed=0)
    cfg = LoopConfig()
    critic = WeakCritic({"tfidf": TfidfClassifier(), "static": ModelFactory("static", cfg.probe)(0)}, NAMES)
    critic.fit(s.train_gt.texts, s.train_gt.labels, get_loss("xent"))
    vs = critic.judge([q(i, t) for i, t in enumerate(s.test.texts)], responses=[1] * 300)
    acc = np.mean([v.label == y for v, y in zip(vs, s.test.labels)])
    assert 0.55 < acc < 0.9, acc
    assert all(0.5 <= v.confidence <= 1 and abs(sum(v.probs) - 1) < 1e-6 for v in vs)
    assert sum("tfidf: '" in v.explanation for v in vs) > 250
    assert all("static: nearest labelled '" in v.explanation and "learner (positive)" in v.explanation for v in vs)


# --- learner, ledger, policy ------------------------------------------------------------------


class ToyEncoder:
    key = "toy"

    def encode(self, texts):
        return np.array([[float(t.split()[0]), float(t.split()[1])] for t in texts], dtype=np.float32)


def _toy(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] > 0).astype(int)
    return [f"{a:.4f} {b:.4f} #{i}" for i, (a, b) in enumerate(x)], y


def test_probe_fit_without_new_arguments_is_unchanged():
    texts, y = _toy()
    cfg = ProbeConfig(epochs=3, lr=0.05)
    a = ProbeClassifier(ToyEncoder(), cfg).fit(texts, np.eye(2)[y], get_loss("xent")).predict_proba(texts)
    b = (
        ProbeClassifier(ToyEncoder(), cfg)
        .fit(texts, np.eye(2)[y], get_loss("xent"), sample_weight=None, gold_mask=None)
        .predict_proba(texts)
    )
    np.testing.assert_array_equal(a, b)


def test_sample_weight_zero_rows_are_never_learnt_and_gold_rows_win():
    texts, y = _toy()
    wrong = np.eye(2)[1 - y]
    w = np.r_[np.ones(200), np.zeros(200)]  # second half: flipped labels, weight 0
    targets = np.r_[np.eye(2)[y[:200]], wrong[200:]]
    clf = ProbeClassifier(ToyEncoder(), ProbeConfig(epochs=10, lr=0.05)).fit(
        texts, targets, get_loss("xent"), sample_weight=w
    )
    assert (clf.predict_proba(texts).argmax(1) == y).mean() > 0.95
    with pytest.raises(ValueError, match="sample_weight"):
        ProbeClassifier(ToyEncoder()).fit(texts, targets, get_loss("xent"), sample_weight=-w)
    # logconf on critic rows that are all wrong vs. gold rows that are right: the gold mask makes gold count as gold
    gold = np.r_[np.ones(100, bool), np.zeros(300, bool)]
    t2 = np.r_[np.eye(2)[y[:100]], np.full((300, 2), 0.5)]
    clf2 = ProbeClassifier(ToyEncoder(), ProbeConfig(epochs=10, lr=0.05)).fit(
        texts, t2, get_loss("logconf"), loss_name="logconf", gold_mask=gold
    )
    assert (clf2.predict_proba(texts).argmax(1) == y).mean() > 0.9


def test_ledger_human_beats_critic_and_edits_follow_their_source():
    led = FeedbackLedger(2, "confidence", human_weight=3.0)
    led.add_critic("a", Verdict.from_probs(np.array([0.2, 0.8])))
    led.add_critic("b", Verdict.unparseable(2, "???"))
    led.add_edit("a!", "a")
    fb = led.feedback()
    assert fb.texts == ["a", "a!"] and np.allclose(fb.targets, [[0.2, 0.8]] * 2) and not fb.gold.any()
    assert np.allclose(fb.weights, [0.8, 0.8])
    led.add_human("a", 0)
    led.add_critic("a", Verdict.from_probs(np.array([0.1, 0.9])))  # a critic never overrides a human
    fb = led.feedback()
    assert np.allclose(fb.targets, [[1, 0]] * 2) and fb.gold.all() and np.allclose(fb.weights, [3, 3])
    assert led.counts() == {"critic": 0, "human": 1, "edit": 1}


def test_ledger_consistency_edits_keep_the_learners_verdict_until_a_human_speaks():
    led = FeedbackLedger(2, "confidence")
    led.add_critic("a", Verdict.from_probs(np.array([0.2, 0.8])))
    led.add_edit("a!", "a", label=0, weight=0.7)  # the learner said 0 (p=0.7) before the edit
    fb = led.feedback()
    assert np.allclose(fb.targets, [[0.2, 0.8], [1, 0]]) and np.allclose(fb.weights, [0.8, 0.7]) and not fb.gold.any()
    led.add_human("a", 1)
    fb = led.feedback()
    assert np.allclose(fb.targets, [[0, 1], [0, 1]]) and fb.gold.all()


def test_learner_trains_fresh_and_passes_weights():
    texts, y = _toy(200)
    seen = []

    class Spy(ProbeClassifier):
        def fit(self, *a, **kw):
            seen.append(kw)
            return super().fit(*a, **kw)

    learner = ClassifierLearner(lambda s: Spy(ToyEncoder(), ProbeConfig(epochs=10, lr=0.05), seed=s), "toy", "xent")
    with pytest.raises(OversightError, match="not been trained"):
        learner.predict_proba(texts)
    led = FeedbackLedger(2)
    for t, yy in zip(texts, y):
        led.add_critic(t, Verdict.from_probs(np.eye(2)[yy] * 0.8 + 0.1))
    led.add_human(texts[0], int(y[0]))
    learner.update(led.feedback())
    assert (learner.predict_proba(texts).argmax(1) == y).mean() > 0.9 and learner.updates == 1
    assert (
        seen[0]["gold_mask"].sum() == 1
        and seen[0]["sample_weight"][0] == 1.0
        and seen[0]["sample_weight"][1] == pytest.approx(0.9)
        and seen[0]["loss_name"] == "xent"
    )


def test_disagreement_policy_and_selection_respect_oracle_and_sources():
    lp = np.array([[0.1, 0.9], [0.1, 0.9], [0.5, 0.5], [0.1, 0.9], [0.1, 0.9]])
    vs = [Verdict.from_probs(np.array(p)) for p in ([0.55, 0.45], [0.99, 0.01], [0.55, 0.45], [0.55, 0.45], [0.6, 0.4])]
    s = disagreement_policy(lp, vs, np.random.default_rng(0))
    assert s[0] > s[1] and s[0] > s[2]  # disagrees and the critic is unsure
    c = critic_uncertainty_policy(lp, vs, np.random.default_rng(0))
    assert c[0] == c[2] == c[3] > c[4] > c[1]  # the critic's margin alone, whatever the learner says
    qs = [
        q(0, "a"),
        q(1, "b"),
        q(2, "c"),
        Query("gen:x", "d", None, "generative"),
        Query("perturb:pool:0:1", "a!", "pool:0", "perturb"),
    ]
    oracle = HumanOracle({f"pool:{i}": 1 for i in range(3)}, budget=2)
    picked = select_for_human("disagreement", qs, lp, vs, 5, oracle, np.random.default_rng(0))
    assert len(picked) == 2 and 3 not in picked  # budget caps k; generated text has no gold
    assert not ({0, 4} <= set(picked))  # one label per source item
    assert (
        select_for_human(
            "disagreement", qs, lp, vs, 5, oracle, np.random.default_rng(0), exclude={"pool:0", "pool:1", "pool:2"}
        )
        == []
    )
    with pytest.raises(OversightError, match="unknown selection policy"):
        select_for_human("nope", qs, lp, vs, 1, oracle, np.random.default_rng(0))
