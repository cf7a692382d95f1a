"""The attacker-learner-critic loop end to end: per-round records, resume, budget, leakage, CLI."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from superalign.cli import app
from superalign.data import SplitSizes, get_task, make_splits
from superalign.errors import SuperalignError
from superalign.models import ProbeConfig
from superalign.oversight import LoopConfig, PerturbConfig, run_loop, run_seed_loop
from superalign.store import Store

from .conftest import require_assets

TINY = dict(
    critic_models=["tfidf"],
    learner="static",
    rounds=2,
    human_budget=6,
    attack_size=6,
    eval_size=6,
    sizes=SplitSizes(train_gt=150, train_w2s=300, val=40, test=200),
    probe=ProbeConfig(epochs=5, lr=0.01),
    perturb=PerturbConfig(max_queries=30, max_words=4),
    seeds=[0],
    n_bootstrap=50,
)


@pytest.fixture
def tiny():
    require_assets("vader", "static")
    return LoopConfig(**TINY)


def _splits(cfg):
    return make_splits(get_task(cfg.task).load(), cfg.sizes.model_dump(), seed=0, data_seed=cfg.data_seed)


def test_loop_records_every_round_and_resumes_from_disk(tiny, tmp_path):
    store = Store(tmp_path / "runs")
    seen = []
    first = run_loop(tiny, store, on_round=lambda s, r, m: seen.append((s, r)))
    assert seen == [(0, 0), (0, 1), (0, 2)] and first.computed == seen
    folder = store.run_dir(f"loop-{tiny.rounds_key()}") / "seed0"
    recs = [json.loads((folder / f"round_{r}.json").read_text()) for r in range(3)]
    for r, rec in enumerate(recs):
        m = rec["metrics"]
        assert m["round"] == r and 0 < m["acc"] < 1 and set(m["attack"]) == {"pool", "perturb"}
        assert 0 <= m["attack"]["perturb"]["success"] <= 1 and m["human_spent"] <= tiny.human_budget
    assert recs[0]["queries"] == [] and recs[0]["metrics"]["human_spent"] == 0
    assert recs[1]["metrics"]["human_spent"] == 3 and recs[2]["metrics"]["human_spent"] == 6  # spread evenly
    assert {q["query"]["attacker"] for q in recs[1]["queries"]} == {"pool", "perturb"}
    assert all("critic_on_queries" in r["metrics"] for r in recs[1:])
    s = first.summary
    assert [r["round"] for r in s["rounds"]] == [0, 1, 2] and s["rounds"][0]["gain_vs_round0"]["mean"] == 0
    naive = first.seeds[0].naive_probs.argmax(1) == first.seeds[0].test_labels  # the floor: xent on critic labels
    assert (
        s["floor_acc"]["mean"] == pytest.approx(naive.mean())
        and s["ceiling_acc"]["mean"] > 0.5
        and 0 <= s["critic_ece"] <= 1
    )
    for r in s["rounds"]:
        assert r["gain_vs_naive"]["mean"] == pytest.approx(r["acc"]["mean"] - s["floor_acc"]["mean"])

    again = run_loop(tiny, store)  # everything replayed, nothing computed
    assert again.computed == [] and again.summary == first.summary
    (folder / "round_2.json").unlink()  # as if killed during round 2
    resumed = run_loop(tiny, store)
    assert resumed.computed == [(0, 2)]
    np.testing.assert_array_equal(resumed.seeds[0].test_probs[2], first.seeds[0].test_probs[2])
    assert json.loads((folder / "round_2.json").read_text()) == recs[2]


def test_human_labels_also_teach_the_weak_critic(tiny, tmp_path):
    """With critic_learns the critic is refit on train_gt + the oracle's answers after each round
    (its test accuracy is tracked per round); without it the critic never changes."""
    on = run_loop(tiny, Store(tmp_path / "on")).seeds[0]
    off = run_loop(tiny.model_copy(update={"critic_learns": False}), Store(tmp_path / "off")).seeds[0]
    np.testing.assert_array_equal(on.test_probs[0], off.test_probs[0])  # round 0: no human label yet
    assert len({m["critic_test_acc"] for m in off.rounds}) == 1
    assert len({m["critic_test_acc"] for m in on.rounds}) > 1  # the critic moved once humans spoke
    critic_labels = [m["feedback"]["critic"] for m in on.rounds]
    assert critic_labels == [m["feedback"]["critic"] for m in off.rounds]  # re-judged, not added or dropped


def _teaching_ledger():
    from superalign.oversight.learner import FeedbackLedger
    from superalign.oversight.types import Verdict

    led = FeedbackLedger(2)
    for t in ("a dull film", "a fine film"):
        led.add_critic(t, Verdict.from_probs(np.array([0.5, 0.5])))
    return led


def test_teach_critic_refits_on_gold_plus_humans_and_rejudges_the_ledger():
    from superalign.data import Dataset
    from superalign.models import TfidfClassifier
    from superalign.oversight.critics import WeakCritic
    from superalign.oversight.rounds import teach_critic

    gt = Dataset(["good", "great", "bad", "awful"], np.array([1, 1, 0, 0]))
    critic = WeakCritic({"tfidf": TfidfClassifier(C=100.0)}, ["neg", "pos"])
    led = _teaching_ledger()
    teach_critic(critic, gt, [("a dull film", 0), ("a fine film", 1), ("dull", 0), ("fine", 1)], led)
    fb = led.feedback()
    assert (
        fb.targets[fb.texts.index("a dull film")].argmax() == 0
        and fb.targets[fb.texts.index("a fine film")].argmax() == 1
    )
    assert set(critic._train[0]) == {"good", "great", "bad", "awful", "a dull film", "a fine film", "dull", "fine"}


def test_finetuned_learner_gets_weights_and_gold_rows(tiny, tiny_models, tmp_path, caplog):
    """mode finetune: the learner (and its baselines) are fine-tuned Hugging Face models, and the
    critic weights and human gold rows reach them (no 'training unweighted' fallback)."""
    from superalign.models import FinetuneConfig

    cfg = tiny.model_copy(
        update={
            "learner": tiny_models["bert"],
            "mode": "finetune",
            "rounds": 1,
            "human_budget": 3,
            "attack_size": 3,
            "eval_size": 3,
            "finetune": FinetuneConfig(epochs=1, batch_size=32, lr=2e-3, max_length=32, early_stopping=False),
        }
    )
    with caplog.at_level("WARNING"):
        res = run_loop(cfg, Store(tmp_path / "runs"))
    seed = res.seeds[0]
    assert "unweighted" not in caplog.text and [m["human_spent"] for m in seed.rounds] == [0, 3]
    assert seed.naive_probs.shape == seed.ceiling_probs.shape == (200, 2)


def test_more_seeds_reuse_the_finished_ones(tiny, tmp_path):
    store = Store(tmp_path / "runs")
    one = run_loop(tiny.model_copy(update={"rounds": 1}), store)
    two = run_loop(tiny.model_copy(update={"rounds": 1, "seeds": [0, 1]}), store)
    assert two.computed == [(1, 0), (1, 1)]
    np.testing.assert_array_equal(one.seeds[0].test_probs[1], two.seeds[0].test_probs[1])


def test_budget_holds_in_the_loop_and_zero_budget_asks_nobody(tiny, tmp_path):
    loop = run_loop(tiny.model_copy(update={"human_budget": 0, "rounds": 1}), Store(tmp_path / "a"))
    assert loop.seeds[0].oracle_log == [] and all(m["human_spent"] == 0 for m in loop.seeds[0].rounds)
    big = run_loop(tiny.model_copy(update={"human_budget": 4, "rounds": 3}), Store(tmp_path / "b"))
    log = big.seeds[0].oracle_log
    assert sum(e["answered"] for e in log) == 4 and [m["human_spent"] for m in big.seeds[0].rounds] == [0, 1, 2, 4]
    assert len({e["source"] for e in log}) == 4  # never the same item twice


def test_pool_gold_reaches_the_learner_only_through_the_oracle(tiny, tmp_path):
    """Poison every gold label the oracle did not hand out (and all of val and test):
    the learner's predictions in every round stay bit-identical; only the ceiling moves."""
    splits = _splits(tiny)
    kw = dict(label_names=["negative", "positive"])
    clean = run_seed_loop(tiny, splits, 0, Store(tmp_path / "a"), **kw)
    answered = {int(e["source"].split(":")[1]) for e in clean.oracle_log if e["answered"]}
    assert len(answered) == tiny.human_budget
    rng = np.random.default_rng(5)
    w2s = splits.train_w2s.labels.copy()
    untouched = np.array([i for i in range(len(w2s)) if i not in answered])
    w2s[untouched] = rng.integers(0, 2, len(untouched))
    poisoned = dataclasses.replace(
        splits,
        train_w2s=dataclasses.replace(splits.train_w2s, labels=w2s),
        val=dataclasses.replace(splits.val, labels=1 - splits.val.labels),
        test=dataclasses.replace(splits.test, labels=1 - splits.test.labels),
    )
    dirty = run_seed_loop(tiny, poisoned, 0, Store(tmp_path / "b"), **kw)
    for r in range(tiny.rounds + 1):
        np.testing.assert_array_equal(clean.test_probs[r], dirty.test_probs[r], err_msg=f"round {r}")
    assert [e for e in clean.oracle_log] == [e for e in dirty.oracle_log]  # same questions, same answers
    assert not np.allclose(clean.ceiling_probs, dirty.ceiling_probs)


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "superalign", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_cli_loop_prints_rounds_and_summary(tmp_path):
    require_assets("vader", "static")
    sets = [
        "--set",
        "sizes={train_gt: 150, train_w2s: 300, val: 40, test: 200}",
        "--set",
        "probe.epochs=5",
        "--set",
        "attack_size=5",
        "--set",
        "eval_size=5",
        "--set",
        "perturb.max_queries=30",
        "--set",
        "n_bootstrap=50",
    ]
    r = CliRunner().invoke(
        app,
        [
            "loop",
            "--task",
            "sentiment",
            "--rounds",
            "1",
            "--human-budget",
            "4",
            "--attacker",
            "pool,perturb",
            "--critic",
            "weak",
            "--critic-models",
            "tfidf",
            "--learner",
            "static",
            "--seeds",
            "0",
            *sets,
            "--store",
            str(tmp_path / "runs"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert r.exit_code == 0, (r.exception, r.output)
    assert "seed 0 round 0: acc" in r.output and "seed 0 round 1: acc" in r.output and "human 4/4" in r.output
    assert "attack success: pool 0." in r.output and "perturb 0." in r.output and "naive W2S" in r.output
    s = json.loads((tmp_path / "out" / "loop_summary.json").read_text())
    assert s["human_budget"] == 4 and len(s["rounds"]) == 2


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--attacker", "pool,nuke"], "unknown attacker"),
        (["--human-budget", "-1"], "human_budget"),
        (["--critic", "oracle"], "critic"),
        (["--set", "policy=psychic"], "unknown selection policy"),
        (["--critic", "llm", "--llm", "openai"], "SUPERALIGN_LLM_BASE_URL"),
    ],
)
def test_cli_loop_bad_input_is_a_superalign_error(args, expected, tmp_path, monkeypatch):
    require_assets("vader")
    for var in ("SUPERALIGN_LLM_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    r = CliRunner().invoke(app, ["loop", *args, "--store", str(tmp_path / "runs")])
    assert isinstance(r.exception, SuperalignError) and expected in str(r.exception), (r.exception, r.output)
    assert not list((tmp_path / "runs").glob("loop-*/seed*"))  # failed before any round


def test_cli_loop_bad_input_exits_2_with_one_line(tmp_path):
    r = cli("loop", "--attacker", "pool,nuke", "--store", str(tmp_path / "runs"))
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert (
        r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "unknown attacker" in lines[0]
    ), r.stderr


class RuleLLM:
    """A deterministic stand-in chat model: JSON verdicts from keywords (every 7th answer is garbage),
    and short generated reviews. It exercises the loop's LLM paths; the real backends are in test_llm.py."""

    key = "rule-llm"

    def __init__(self):
        self.n = 0

    def chat(self, messages, max_tokens=128, temperature=0.0, json_schema=None):
        self.n += 1
        text = messages[-1]["content"]
        if "Write one new input" in text:
            mood = "clearly positive" if "clearly positive" in text else "sadly negative"
            return f"An input that is {mood} number {self.n}."
        if self.n % 7 == 0:
            return "I cannot decide."
        good = any(w in text.lower() for w in ("good", "great", "best", "fun", "love"))
        return '{"label": "%s", "confidence": 0.7, "explanation": "keywords"}' % ("positive" if good else "negative")

    def chat_many(self, conversations, max_tokens=128, temperature=0.0, json_schema=None):
        return [self.chat(c, max_tokens, temperature) for c in conversations]


def test_loop_with_llm_critic_and_generative_attacker(tiny, tmp_path):
    cfg = tiny.model_copy(
        update={
            "critic": "llm",
            "attackers": ["pool", "generative"],
            "rounds": 1,
            "human_budget": 4,
            "sizes": SplitSizes(train_gt=20, train_w2s=120, val=20, test=100),
        }
    )
    splits = _splits(cfg)
    res = run_seed_loop(
        cfg,
        splits,
        0,
        Store(tmp_path),
        label_names=["negative", "positive"],
        task_description="sentiment",
        llm=RuleLLM(),
    )
    m = res.rounds[1]
    assert m["queries"] == {"generative": 6, "pool": 6} and m["human_spent"] == 4
    assert {"pool", "generative"} == set(m["attack"]) and m["attack"]["generative"]["n"] == cfg.eval_size
    assert all(e["source"].startswith("pool:") for e in res.oracle_log)  # generated text never goes to the human
    assert m["feedback"]["critic"] > 0  # generated queries were added with critic labels


def test_the_human_labels_real_inputs_unless_told_to_label_edits(tiny, tmp_path):
    """By default the budget goes to pool inputs the attackers surfaced; an adversarial edit is
    labelled only through its source (label_edits lets the policy pick edits themselves)."""
    pool = set(_splits(tiny).train_w2s.texts)

    def human_texts(cfg, where):
        store = Store(tmp_path / where)
        run_loop(cfg, store)
        folder = store.run_dir(f"loop-{cfg.rounds_key()}") / "seed0"
        return [
            h["text"]
            for r in range(1, cfg.rounds + 1)
            for h in json.loads((folder / f"round_{r}.json").read_text())["human"]
        ]

    default = human_texts(tiny, "default")
    assert len(default) == tiny.human_budget and all(t in pool for t in default)
    edits = human_texts(tiny.model_copy(update={"label_edits": True}), "edits")
    assert len(edits) == tiny.human_budget and any(t not in pool for t in edits)


def test_spelling_puts_the_word_recogniser_in_front_of_the_learner_and_its_baselines(tiny, tmp_path):
    cfg = tiny.model_copy(update={"rounds": 1, "spelling": "english"})
    assert cfg.rounds_key() != tiny.model_copy(update={"rounds": 1}).rounds_key()
    plain = run_seed_loop(tiny.model_copy(update={"rounds": 1}), _splits(tiny), 0, Store(tmp_path / "a"))
    spelled = run_seed_loop(cfg, _splits(tiny), 0, Store(tmp_path / "b"))
    for a, b in [
        (plain.naive_probs, spelled.naive_probs),
        (plain.ceiling_probs, spelled.ceiling_probs),
        (plain.test_probs[1], spelled.test_probs[1]),
    ]:
        assert a.shape == b.shape and not np.array_equal(a, b)


def test_loop_summary_scores_the_tasks_primary_metric():
    """On an imbalanced task whose metric is balanced accuracy, the loop's score, gain and PGR use it."""
    from superalign.metrics import balanced_accuracy
    from superalign.oversight import SeedLoop, summarize_loop

    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.2).astype(int)  # 20% positives

    def probs(p_right):  # right with probability p_right, else the majority class
        right = rng.random(len(y)) < p_right
        return np.eye(2)[np.where(right, y, 0)]

    seed = SeedLoop(
        0,
        [{"attack": {}, "human_spent": 0, "critic_test_acc": 0.0, "ece": 0.0}],
        [probs(0.7)],
        probs(0.3),
        probs(0.95),
        probs(0.2),
        y,
        [],
    )
    s = summarize_loop(LoopConfig(rounds=0, n_bootstrap=50), [seed], metric="balanced_accuracy")
    r0 = s["rounds"][0]
    assert s["metric"] == "balanced_accuracy"
    assert r0["score"]["mean"] == pytest.approx(balanced_accuracy(seed.test_probs[0], y))
    assert r0["acc"]["mean"] == pytest.approx((seed.test_probs[0].argmax(1) == y).mean()) != r0["score"]["mean"]
    floor = balanced_accuracy(seed.naive_probs, y)
    assert r0["gain_vs_naive"]["mean"] == pytest.approx(r0["score"]["mean"] - floor)


def test_llm_roles_get_the_tasks_class_names_or_a_clear_error(tmp_path):
    from superalign.data import FileTask, get_task
    from superalign.oversight.loop import label_names_for
    from superalign.oversight.types import OversightError

    llm_roles = LoopConfig(critic="llm", attackers=["pool", "generative"])
    assert label_names_for(llm_roles, get_task("safety")) == ["safe", "unsafe"]
    assert label_names_for(llm_roles, get_task("toxicity")) == ["not toxic", "toxic"]
    table = FileTask(str(tmp_path / "t.csv"))
    with pytest.raises(OversightError, match="names no classes.*label_names"):
        label_names_for(llm_roles, table)
    named = llm_roles.model_copy(update={"label_names": ["ham", "spam"]})
    assert label_names_for(named, table) == ["ham", "spam"]
    assert label_names_for(LoopConfig(), table) == ["class 0", "class 1"]  # no LLM role: names unused in prompts


def test_rounds_key_moves_with_the_loop_code_version(monkeypatch):
    """Stored rounds are keyed on the code that computed them too: a bumped ROUNDS_VERSION or package
    version stores new rounds instead of replaying stale ones."""
    import superalign
    from superalign.oversight import config

    key = LoopConfig().rounds_key()
    monkeypatch.setattr(config, "ROUNDS_VERSION", config.ROUNDS_VERSION + 1)
    bumped = LoopConfig().rounds_key()
    monkeypatch.setattr(superalign, "__version__", "99.0")
    assert len({key, bumped, LoopConfig().rounds_key()}) == 3
    assert LoopConfig(seeds=[5, 6]).rounds_key() == LoopConfig().rounds_key()  # seeds still share rounds
