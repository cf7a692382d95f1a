"""Hyper-parameter selection with weak labels only (`superalign.w2s.tuning`): the criteria, the
config's checks, and that no gold label of val or train_w2s reaches the choice."""

import numpy as np
import pytest

from superalign.data import get_task, make_splits
from superalign.errors import ConfigError
from superalign.w2s import ExperimentConfig, run_experiment, run_seed
from superalign.w2s.tuning import CRITERIA, TuneConfig, ValView, candidate_label, candidates, select

from .test_leakage import _poisoned


def _probs(classes, k=2):
    return np.eye(k, dtype=np.float32)[np.asarray(classes)]


def test_candidates_are_the_grid_product_over_the_base_params():
    grid = {"alpha_max": [0.25, 0.5], "warmup_frac": [0.0, 0.2]}
    points = candidates(grid, {"warmup_frac": 0.1, "other": 3})
    assert len(points) == 4
    assert points[0] == {"alpha_max": 0.25, "warmup_frac": 0.0, "other": 3}
    assert candidate_label("logconf", points[-1], grid) == "logconf[alpha_max=0.5,warmup_frac=0.2]"
    assert select([0.7, 0.9, 0.9]) == 1  # ties go to the earliest candidate


def test_confident_weak_acc_scores_only_the_weak_models_surest_share_per_class():
    weak = np.array([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9], [0.45, 0.55]], dtype=np.float32)
    val = ValView(weak, knn=lambda: weak)
    student = _probs([0, 1, 1, 0])  # right on the sure ones, wrong on the unsure ones
    cfg = TuneConfig(confident=0.5)
    assert CRITERIA["weak_acc"](student, val, cfg) == 0.5
    assert CRITERIA["confident_weak_acc"](student, val, cfg) == 1.0


def test_knn_weak_acc_compares_with_the_knn_vote_not_the_raw_weak_labels():
    weak = _probs([0, 0, 1, 1])
    vote = _probs([0, 1, 1, 0])
    val = ValView(weak, knn=lambda: vote)
    cfg = TuneConfig(confident=1.0)
    assert CRITERIA["knn_weak_acc"](_probs([0, 1, 1, 0]), val, cfg) == 1.0
    assert CRITERIA["weak_acc"](_probs([0, 1, 1, 0]), val, cfg) == 0.5


def test_on_a_balanced_accuracy_task_agreement_is_balanced_so_the_majority_copier_loses():
    weak = _probs([0] * 8 + [1] * 2)  # an imbalanced val: the weak model calls two rows positive
    majority = _probs([0] * 10)  # agrees on 8 of 10 rows, on no positive
    minority_aware = _probs([0] * 6 + [1] * 4)  # agrees on 8 of 10 rows, on both positives
    cfg = TuneConfig(confident=1.0)
    plain, balanced = ValView(weak, knn=lambda: weak), ValView(weak, knn=lambda: weak, metric="balanced_accuracy")
    for name in ("weak_acc", "knn_weak_acc"):
        assert CRITERIA[name](majority, plain, cfg) == CRITERIA[name](minority_aware, plain, cfg) == 0.8
        assert CRITERIA[name](majority, balanced, cfg) == 0.5
        assert CRITERIA[name](minority_aware, balanced, cfg) == 0.875


def test_tune_config_checks_before_anything_trains():
    with pytest.raises(ConfigError, match="tuning criterion"):
        ExperimentConfig.load(overrides=["tune.criterion=gold_acc"])
    with pytest.raises(ConfigError, match="does not train"):
        ExperimentConfig.load(overrides=["methods=[xent]", "tune.grid.logconf.alpha_max=[0.5]"])
    with pytest.raises(ConfigError, match="valid list"):
        ExperimentConfig.load(overrides=["tune.grid.logconf.alpha_max=0.5"])
    with pytest.raises(ConfigError, match="non-empty list"):
        ExperimentConfig.load(overrides=["tune.grid.logconf.alpha_max=[]"])
    assert TuneConfig().resolved(has_features=True) == "knn_weak_acc"
    assert TuneConfig().resolved(has_features=False) == "confident_weak_acc"


def test_a_bad_candidate_value_is_a_config_error_before_any_stage(small_cfg, store):
    cfg = small_cfg.model_copy(update={"methods": ["xent", "logconf"]})
    cfg = cfg.model_copy(update={"tune": TuneConfig(grid={"logconf": {"alpha_max": [0.5, 7.0]}})})
    with pytest.raises(ConfigError, match="alpha_max"):
        run_experiment(cfg, store)
    assert not store.computed


def test_tuning_off_keeps_the_run_hash():
    assert ExperimentConfig().hash() == ExperimentConfig(tune=TuneConfig()).hash()
    assert ExperimentConfig().hash() != ExperimentConfig(tune=TuneConfig(grid={"logconf": {"alpha_max": [1]}})).hash()


def test_tuned_run_chooses_by_weak_labels_and_reports_every_candidate(small_cfg, store):
    grid = {"logconf": {"alpha_max": [0.25, 1.0]}, "confident": {"keep": [0.3, 0.9]}}
    cfg = small_cfg.model_copy(
        update={"methods": ["xent", "logconf", "confident"], "tune": TuneConfig(grid=grid, criterion="weak_acc")}
    )
    res = run_experiment(cfg, store)
    tuned = res.summary["tuning"]
    assert set(tuned) == {"logconf", "confident"}
    assert tuned["logconf"]["criterion"] == "weak_acc"
    assert list(tuned["confident"]["candidates"]) == ["confident[keep=0.3]", "confident[keep=0.9]"]
    assert len(tuned["logconf"]["chosen"]) == len(cfg.seeds)
    for t in tuned.values():
        for c in t["candidates"].values():
            assert 0 <= c["criterion"] <= 1 and c["pgr"].keys() >= {"mean", "ci"}
    again = run_experiment(cfg, store)  # a rerun recomputes nothing
    assert again.computed == [] and again.summary["tuning"] == tuned


def test_poisoned_gold_of_val_and_train_w2s_does_not_change_the_choice(small_cfg, store, tmp_path):
    grid = {"logconf": {"alpha_max": [0.25, 1.0]}, "knn_relabel": {"k": [5, 40]}}
    cfg = small_cfg.model_copy(update={"methods": ["xent", "logconf", "knn_relabel"], "tune": TuneConfig(grid=grid)})
    splits = make_splits(get_task(cfg.task).load(), cfg.sizes.model_dump(), seed=0)
    weak, strong = cfg.factory(cfg.weak), cfg.factory(cfg.strong)
    clean = run_seed(cfg, splits, 0, store, weak, strong)
    dirty = run_seed(cfg, _poisoned(splits), 0, type(store)(tmp_path / "other"), weak, strong)
    assert clean.tuning == dirty.tuning
    for name in ["logconf", "knn_relabel", *clean.candidates]:
        got = clean.probs.get(name, clean.candidates.get(name))
        np.testing.assert_array_equal(got, dirty.probs.get(name, dirty.candidates.get(name)), err_msg=name)
    assert clean.keys["logconf"] == dirty.keys["logconf"]
    assert not np.allclose(clean.probs["ceiling"], dirty.probs["ceiling"])
