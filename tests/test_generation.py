"""Generative W2S, setting B: a weak reward model steers a policy by best-of-n, scored by a gold
judge that never steers anything (a tiny random causal LM keeps this fast)."""

import json

import numpy as np
import pytest

from superalign.data import Dataset
from superalign.data.generation import SentimentContinuationTask
from superalign.errors import ConfigError
from superalign.generation import BestOfNConfig, best_of_n, run_best_of_n
from superalign.judges import distinct_bigrams, fluency
from superalign.store import Store
from superalign.summaries import print_best_of_n

from .conftest import require_assets, tiny_causal_lm


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    """A 2-layer random Llama with the MiniLM tokenizer, as a local policy."""
    from superalign.llm import get_policy

    return get_policy(f"local:{tiny_causal_lm(tmp_path_factory.mktemp('tiny-policy'))}")


def tiny_cfg(**kw):
    base = dict(
        weak="tfidf",
        judge="static",
        seeds=[0, 1],
        ns=[1, 2, 4],
        max_new_tokens=6,
        n_bootstrap=50,
        sizes=dict(train_gt=200, train_w2s=1, val=1, test=12),
    )
    return BestOfNConfig(**{**base, **kw})


def test_task_cuts_prompts_and_keeps_the_judge_split_apart():
    require_assets("vader")
    task = SentimentContinuationTask()
    data, judge = task.load(), task.judge_data()
    assert not set(data.texts) & set(judge.texts) and 0.2 < len(judge) / (len(data) + len(judge)) < 0.4
    prompt, rest = task.prompt_and_continuation("A gorgeous , witty , seductive movie .")
    assert (
        prompt == "A gorgeous , witty"
        and rest == " , seductive movie ."
        and prompt + rest == "A gorgeous , witty , seductive movie ."
    )
    assert all(len(t.split()) >= 7 for t in data.texts[:200])


def test_best_of_n_picks_by_each_scorer():
    proxy = np.array([[0.1, 0.9, 0.5], [0.8, 0.2, 0.3]])
    gold = np.array([[0.3, 0.2, 0.7], [0.1, 0.6, 0.4]])
    by_proxy, by_gold, proxy_pick = best_of_n(proxy, gold, 3)
    assert by_proxy.tolist() == [0.2, 0.1] and by_gold.tolist() == [0.7, 0.6] and proxy_pick.tolist() == [0.9, 0.8]
    assert best_of_n(proxy, gold, 1)[0].tolist() == gold[:, 0].tolist()  # n = 1 is one sample: no choice


def test_best_of_n_run_is_cached_and_the_gold_judge_never_steers(tiny_policy, tmp_path, monkeypatch):
    require_assets("vader", "static")
    cfg = tiny_cfg()
    first = run_best_of_n(cfg, Store(tmp_path / "a"), policy=tiny_policy)
    s = first.summary
    assert [r["n"] for r in s["rows"]] == [1, 2, 4] and first.computed
    assert s["rows"][0]["gold_bon_weak"]["mean"] == pytest.approx(s["base_score"]["mean"])  # n = 1: no choice
    assert all(r["gold_bon_gold"]["mean"] >= r["gold_bon_weak"]["mean"] - 1e-12 for r in s["rows"])
    assert s["rows"][-1]["gold_bon_gold"]["mean"] > s["base_score"]["mean"]
    assert 0 < s["rows"][-1]["fluency_bon_weak"]["ppl_per_char"] and "pgr" in s["rows"][-1]
    assert run_best_of_n(cfg, Store(tmp_path / "a"), policy=tiny_policy).computed == []  # resumed from the store

    # Poison the gold judge's labels: what the weak RM picks (and its own scores) must not move.
    real = SentimentContinuationTask.judge_data
    monkeypatch.setattr(
        SentimentContinuationTask, "judge_data", lambda self: (lambda d: Dataset(d.texts, 1 - d.labels))(real(self))
    )
    poisoned = run_best_of_n(cfg, Store(tmp_path / "b"), policy=tiny_policy).summary
    assert [r["proxy_bon_weak"] for r in poisoned["rows"]] == [r["proxy_bon_weak"] for r in s["rows"]]
    assert [r["fluency_bon_weak"] for r in poisoned["rows"]] == [r["fluency_bon_weak"] for r in s["rows"]]
    assert poisoned["base_score"]["mean"] != pytest.approx(s["base_score"]["mean"])  # the judge itself did change


def test_dpo_on_each_scorers_pairs_trains_the_policy_and_the_gold_judge_never_steers_the_weak_one(
    tiny_lm_folder, tmp_path, monkeypatch, capsys
):
    """Setting B by DPO: pairs ranked by the weak RM and by the gold judge each train the policy; a
    rerun is cached; poisoning the gold judge's labels leaves the weak-RM-trained policies' text alone."""
    require_assets("vader", "static")
    cfg = tiny_cfg(
        policy=f"local:{tiny_lm_folder}",
        seeds=[0],
        ns=[1, 2],
        dpo_steps=[1, 2],
        pair_samples=2,
        dpo={"lr": 0.01, "max_length": 32, "batch_size": 4},
        sizes=dict(train_gt=200, train_w2s=8, val=1, test=8),
    )
    s = run_best_of_n(cfg, Store(tmp_path / "a")).summary
    assert [r["steps"] for r in s["dpo_rows"]] == [1, 2]
    assert all(0 <= r["gold_dpo_weak"]["mean"] <= 1 and "pgr" in r for r in s["dpo_rows"])
    assert len(list((tmp_path / "a" / "checkpoints").iterdir())) == 4  # 2 scorers x 2 step counts
    assert run_best_of_n(cfg, Store(tmp_path / "a")).computed == []
    print_best_of_n(s)
    assert "DPO on each scorer's preference pairs" in capsys.readouterr().out
    real = SentimentContinuationTask.judge_data
    monkeypatch.setattr(
        SentimentContinuationTask, "judge_data", lambda self: (lambda d: Dataset(d.texts, 1 - d.labels))(real(self))
    )
    poisoned = run_best_of_n(cfg, Store(tmp_path / "b")).summary
    assert [r["proxy_dpo_weak"] for r in poisoned["dpo_rows"]] == [r["proxy_dpo_weak"] for r in s["dpo_rows"]]


def test_dpo_checkpoints_equal_the_shorter_runs_they_stand_for(tiny_lm_folder, tmp_path):
    """One constant-rate DPO run saved at steps 1 and 3 gives, at step 1, the weights of a 1-step run."""
    from safetensors.numpy import load_file

    from superalign.generation.dpo import DPOSettings, dpo_checkpoints

    pairs = (
        ["The film was", "The plot was", "A story that"],
        [" good", " fine", " moved me"],
        [" bad", " dull", " bored"],
    )
    settings = DPOSettings(lr=0.01, max_length=32, batch_size=1, lora_r=4)
    both = dpo_checkpoints(str(tiny_lm_folder), *pairs, settings, 0, [1, 3], lambda k: tmp_path / "a" / k)
    one = dpo_checkpoints(str(tiny_lm_folder), *pairs, settings, 0, [1], lambda k: tmp_path / "b" / k)
    assert both[1].name == one[1].name != both[3].name
    w = {name: load_file(str(out / "model.safetensors")) for name, out in (("both", both[1]), ("one", one[1]))}
    w3 = load_file(str(both[3] / "model.safetensors"))
    assert all(np.allclose(w["both"][k], w["one"][k], atol=1e-6) for k in w["one"])
    assert any(not np.allclose(w3[k], w["one"][k]) for k in w["one"])  # training went on after step 1
    # saved for generation: the KV cache on, though the trainer turned it off for training
    assert json.loads((both[3] / "config.json").read_text())["use_cache"] is True
    mtime = both[3].stat().st_mtime
    assert dpo_checkpoints(str(tiny_lm_folder), *pairs, settings, 0, [1, 3], lambda k: tmp_path / "a" / k) == both
    assert both[3].stat().st_mtime == mtime  # reused, not trained again


def test_a_partial_section_override_keeps_the_configs_other_defaults():
    """`--set sizes.train_w2s=64` on best-of-n keeps its own test=64 (not SplitSizes' 1500), in a
    YAML-like mapping too; a section the config leaves at the class defaults stays unset."""
    from superalign.generation import RefuseConfig
    from superalign.w2s import ExperimentConfig

    cfg = BestOfNConfig.load(overrides=["sizes.train_w2s=64", "dpo.beta=0.2"])
    assert cfg.sizes.model_dump() == {"train_gt": 1000, "train_w2s": 64, "val": 1, "test": 64}
    assert (cfg.dpo.lr, cfg.dpo.max_length, cfg.dpo.beta) == (2e-4, 64, 0.2)
    assert BestOfNConfig.model_validate({"sizes": {"train_w2s": 64}}).sizes == cfg.sizes
    assert RefuseConfig.load(overrides=["sft.lr=1e-4"]).sft.max_length == 112
    assert BestOfNConfig.load().hash() == BestOfNConfig().hash()
    assert ExperimentConfig.load(overrides=["sizes.test=100"]).sizes.model_fields_set == {"test"}


def test_bad_input_is_a_clear_error(tiny_policy, tmp_path):
    with pytest.raises(ValueError, match="n must be >= 1"):
        tiny_cfg(ns=[0, 2])
    with pytest.raises(ConfigError, match="needs a generation task"):
        run_best_of_n(tiny_cfg(task="sentiment"), Store(tmp_path), policy=tiny_policy)
    with pytest.raises(ValueError, match="train_w2s >= 8"):
        tiny_cfg(dpo_steps=[4])


def test_fluency_guard_sees_repetition(tiny_policy):
    assert distinct_bigrams("good good good") == 0.5 and distinct_bigrams("a fine film indeed") == 1.0
    f = fluency(tiny_policy, ["The film", "The film"], [" was good", " good good good good"])
    assert f["ppl_per_char"] > 1 and f["distinct_bigrams"] == pytest.approx((1 + 1 / 3) / 2)


def test_cli_best_of_n_prints_the_table_and_writes_the_summary(tiny_policy, tmp_path):
    require_assets("vader", "static")
    import json

    from typer.testing import CliRunner

    from superalign.cli import app

    args = [
        "best-of-n",
        "--weak",
        "tfidf",
        "--judge",
        "static",
        "--policy",
        f"local:{tiny_policy.source}",
        "--ns",
        "1,2",
        "--seeds",
        "0",
        "--set",
        "sizes.test=8",
        "--set",
        "sizes.train_gt=100",
        "--set",
        "max_new_tokens=4",
        "--set",
        "n_bootstrap=20",
        "--store",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "out"),
    ]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "best-of-n" in r.output and "PGR" in r.output and "base (one sample" in r.output
    assert [row["n"] for row in json.loads((tmp_path / "out" / "summary.json").read_text())["rows"]] == [1, 2]


def test_classification_commands_refuse_a_generation_task_in_one_line(tmp_path):
    require_assets("vader")
    from superalign.oversight import LoopConfig, OversightError, run_loop
    from superalign.w2s import ExperimentConfig, run_experiment

    with pytest.raises(ConfigError, match="generation task.*best-of-n"):
        run_experiment(ExperimentConfig(task="sentiment_continuation"), Store(tmp_path))
    with pytest.raises(OversightError, match="generation task"):
        run_loop(LoopConfig(task="sentiment_continuation"), Store(tmp_path))


@pytest.fixture(scope="module")
def tiny_lm_folder(tmp_path_factory):
    """A 4-layer random Llama with the MiniLM tokenizer ([SEP] as EOS): cut to 2 layers, it is the weak teacher."""
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm4"), layers=4, seed=1, eos_is_sep=True)


def teach_cfg(folder, **kw):
    from superalign.generation import TeachConfig

    base = dict(
        weak=f"{folder}@2",
        strong=str(folder),
        judge="static",
        weak_judge="tfidf",
        seeds=[0],
        max_new_tokens=5,
        rerank_k=2,
        n_bootstrap=50,
        sft={"epochs": 1, "batch_size": 8, "max_length": 24, "lr": 0.01},
        sizes=dict(train_gt=40, train_w2s=24, val=1, test=12),
        heal={"enabled": False},
    )
    return TeachConfig(**{**base, **kw})


def test_setting_a_defaults_to_one_seed_and_a_healed_teacher():
    from superalign.generation import TeachConfig

    cfg = TeachConfig()
    assert cfg.seeds == [0] and cfg.heal.enabled
    assert TeachConfig(heal={"epochs": 2}).heal.enabled  # a partial section keeps the default's switch
    assert not TeachConfig.load(overrides=["heal.enabled=false"]).heal.enabled


def test_setting_a_trains_teacher_ceiling_and_students_and_resumes(tiny_lm_folder, tmp_path):
    require_assets("vader", "static")
    from superalign.generation import run_teach

    cfg = teach_cfg(tiny_lm_folder)
    s = run_teach(cfg, Store(tmp_path / "runs"))
    assert set(s["methods"]) == {"sft", "confident", "rerank"} and s["computed"] > 0
    assert all(0 <= m["score"]["mean"] <= 1 for m in s["methods"].values()) and "pgr_vs_sft" in s["methods"]["rerank"]
    cut = next((tmp_path / "runs" / "models").glob("*-2layers-*"))
    assert json.loads((cut / "config.json").read_text())["num_hidden_layers"] == 2  # the weaker LM is real
    again = run_teach(cfg, Store(tmp_path / "runs"))
    assert again["computed"] == 0 and again["methods"] == s["methods"]  # every model and generation reused


def test_healing_trains_the_cut_teacher_on_pool_text_outside_every_split(tiny_lm_folder, tmp_path):
    require_assets("vader", "static")
    from superalign.data import get_task, make_splits
    from superalign.generation import run_teach, teach

    cfg = teach_cfg(tiny_lm_folder, methods=["sft"], heal={"enabled": True, "max_texts": 30, "batch_size": 8})
    assert cfg.hash() != teach_cfg(tiny_lm_folder, methods=["sft"]).hash()
    off = teach_cfg(tiny_lm_folder, heal={"enabled": False, "lr": 1e-3})
    assert teach_cfg(tiny_lm_folder).hash() == off.hash()  # off: its settings do not enter the hash
    task = get_task(cfg.task)
    data = task.load()
    splits = make_splits(data, cfg.sizes.model_dump(), seed=0, data_seed=cfg.data_seed)
    texts = teach.unlabelled_outside(data, splits, 30, seed=0)
    used = {t for ds in (splits.train_gt, splits.train_w2s, splits.val, splits.test) for t in ds.texts}
    assert len(texts) == 30 and not used & set(texts)
    store = Store(tmp_path / "runs")
    s = run_teach(cfg, store)
    records = [p.read_text() for p in (tmp_path / "runs" / "checkpoints").glob("*/model/superalign.json")]
    assert any(r.startswith("heal:") for r in records)
    assert 0 <= s["weak_score"]["mean"] <= 1
    assert run_teach(cfg, store)["computed"] == 0  # the healed teacher is reused


def test_setting_a_students_never_see_gold(tiny_lm_folder, tmp_path, monkeypatch):
    """Flip every train_w2s gold label: the ceiling's demonstrations change, the teacher's and the
    students' outputs do not (their prompts are all of train_w2s, whatever the labels)."""
    require_assets("vader", "static")
    from superalign.data import Dataset, Splits
    from superalign.generation import run_teach, teach

    cfg = teach_cfg(tiny_lm_folder, methods=["sft", "confident"])
    clean = run_teach(cfg, Store(tmp_path / "a"))
    real = teach.make_splits

    def flipped(*args, **kw):
        s = real(*args, **kw)
        return Splits(s.train_gt, Dataset(s.train_w2s.texts, 1 - s.train_w2s.labels), s.val, s.test)

    monkeypatch.setattr(teach, "make_splits", flipped)
    poisoned = run_teach(cfg, Store(tmp_path / "b"))
    assert (
        poisoned["weak_score"] == clean["weak_score"]
        and poisoned["methods"]["sft"]["score"] == clean["methods"]["sft"]["score"]
    )
    assert poisoned["methods"]["confident"]["score"] == clean["methods"]["confident"]["score"]
    assert poisoned["ceiling_score"] != clean["ceiling_score"]


def test_cli_run_on_a_generation_task_runs_setting_a(tiny_lm_folder, tmp_path):
    require_assets("vader", "static")
    from typer.testing import CliRunner

    from superalign.cli import app

    cfg = teach_cfg(tiny_lm_folder, methods=["sft"])
    args = [
        "run",
        "--task",
        "sentiment_continuation",
        "--weak",
        cfg.weak,
        "--strong",
        cfg.strong,
        "--methods",
        "sft",
        "--seeds",
        "0",
        "--set",
        "judge=static",
        "--set",
        "weak_judge=tfidf",
        "--set",
        "max_new_tokens=5",
        "--set",
        "sft.epochs=1",
        "--set",
        "sft.max_length=24",
        "--set",
        "sizes.train_gt=40",
        "--set",
        "sizes.train_w2s=24",
        "--set",
        "sizes.test=12",
        "--set",
        "n_bootstrap=20",
        "--set",
        "heal.enabled=false",
        "--store",
        str(tmp_path / "runs"),
    ]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "weak teacher" in r.output and "student: sft" in r.output and "ceiling" in r.output
