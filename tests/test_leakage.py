"""Ground truth of train_w2s must reach the ceiling and nothing else: not the weak model, not the
extra weak supervisors, not a bootstrapping chain's rungs, not any student of any method."""

import dataclasses

import numpy as np
import pytest

from superalign.config import ExperimentConfig, SplitSizes
from superalign.data import get_task, make_splits
from superalign.w2s import ModelFactory, run_seed
from superalign.w2s.methods import method_names

from .conftest import require_assets, shared_data_dir


def _poisoned(splits):
    rng = np.random.default_rng(1)
    return dataclasses.replace(
        splits, train_w2s=dataclasses.replace(splits.train_w2s, labels=rng.integers(0, 2, len(splits.train_w2s)))
    )


def _assert_only_ceiling_changes(clean, dirty, names):
    for name in names:
        np.testing.assert_array_equal(clean.probs[name], dirty.probs[name], err_msg=name)
        assert clean.keys[name] == dirty.keys[name], name  # the stage never saw the labels
    assert not np.allclose(clean.probs["ceiling"], dirty.probs["ceiling"])
    assert clean.keys["ceiling"] != dirty.keys["ceiling"]


def test_poisoned_w2s_labels_change_only_the_ceiling_for_every_method(small_cfg, store, tmp_path):
    """Every registered method, including weak_ensemble's extra supervisors, sees no train_w2s labels."""
    cfg = small_cfg.model_copy(update={
        "sizes": small_cfg.sizes.model_copy(update={"train_gt": 150, "train_w2s": 200, "test": 150}),
        "methods": method_names(),
        "method_params": {"weak_ensemble": {"models": ["tfidf", "static"], "k": 2}, "s2s": {"rounds": 1}},
    })
    splits = make_splits(get_task(cfg.task).load(), cfg.sizes.model_dump(), seed=0)
    weak, strong = ModelFactory(cfg.weak, cfg), ModelFactory(cfg.strong, cfg)
    clean = run_seed(cfg, splits, 0, store, weak, strong)
    dirty = run_seed(cfg, _poisoned(splits), 0, type(store)(tmp_path / "other"), weak, strong)
    _assert_only_ceiling_changes(clean, dirty, ["weak", *cfg.methods])


def test_poisoned_w2s_labels_do_not_reach_a_bootstrapping_chain(small_cfg, store, tmp_path):
    require_assets("minilm")
    cfg = small_cfg.model_copy(update={"chain": ["tfidf", "static", "minilm"], "weak": "tfidf", "strong": "minilm",
                                       "methods": ["xent", "knn_relabel"]})
    splits = make_splits(get_task(cfg.task).load(), cfg.sizes.model_dump(), seed=0)
    weak, strong, rungs = ModelFactory("tfidf", cfg), ModelFactory("minilm", cfg), [ModelFactory("static", cfg)]
    clean = run_seed(cfg, splits, 0, store, weak, strong, rungs=rungs)
    dirty = run_seed(cfg, _poisoned(splits), 0, type(store)(tmp_path / "other"), weak, strong, rungs=rungs)
    _assert_only_ceiling_changes(clean, dirty, ["weak", "rung:static", *cfg.methods])


@pytest.mark.parametrize(
    "task, weak, strong, methods",
    [
        ("preference", "tfidf", "static", ["xent", "logconf"]),  # pair inputs: Bradley-Terry heads
        ("toxicity", "profanity_check", "tfidf", ["xent"]),  # an off-the-shelf weak supervisor
    ],
)
def test_poisoning_on_alignment_tasks(task, weak, strong, methods, store, tmp_path):
    data_dir = shared_data_dir()
    if data_dir is None:
        pytest.skip("shared real data not found (set SUPERALIGN_DATA or place it at <repo>/../shared/data)")
    if "static" in (weak, strong):
        require_assets("static")
    sizes = SplitSizes(train_gt=150, train_w2s=200, val=10, test=150)
    cfg = ExperimentConfig(task=task, task_args={"data_dir": str(data_dir)}, weak=weak, strong=strong, methods=methods, seeds=[0], sizes=sizes)
    splits = make_splits(get_task(task, data_dir=str(data_dir)).load(), sizes.model_dump(), seed=0)
    weak, strong = ModelFactory(cfg.weak, cfg), ModelFactory(cfg.strong, cfg)
    clean = run_seed(cfg, splits, 0, store, weak, strong)
    dirty = run_seed(cfg, _poisoned(splits), 0, type(store)(tmp_path / "other"), weak, strong)
    _assert_only_ceiling_changes(clean, dirty, ["weak", *cfg.methods])


@pytest.mark.parametrize("split", ["train_w2s", "test"])
def test_weak_model_never_predicts_its_own_training_data(small_cfg, split):
    splits = make_splits(get_task(small_cfg.task).load(), small_cfg.sizes.model_dump(), seed=0)
    assert not set(splits.train_gt.texts) & set(getattr(splits, split).texts)
