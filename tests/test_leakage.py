"""Ground truth of train_w2s must reach the ceiling and nothing else."""

import dataclasses

import numpy as np

from superalign.data import get_task, make_splits
from superalign.w2s import ModelFactory, run_seed


def test_poisoned_w2s_labels_change_only_the_ceiling(small_cfg, store, tmp_path):
    cfg = small_cfg.model_copy(update={"methods": ["xent", "logconf", "product"]})
    splits = make_splits(get_task(cfg.task).load(), cfg.sizes.model_dump(), seed=0)
    rng = np.random.default_rng(1)
    poisoned = dataclasses.replace(
        splits, train_w2s=dataclasses.replace(splits.train_w2s, labels=rng.integers(0, 2, len(splits.train_w2s)))
    )
    weak, strong = ModelFactory(cfg.weak, cfg), ModelFactory(cfg.strong, cfg)
    clean = run_seed(cfg, splits, 0, store, weak, strong)
    dirty = run_seed(cfg, poisoned, 0, type(store)(tmp_path / "other"), weak, strong)
    for name in ["weak", *cfg.methods]:
        np.testing.assert_array_equal(clean.probs[name], dirty.probs[name], err_msg=name)
        assert clean.keys[name] == dirty.keys[name]  # the stage never saw the labels
    assert not np.allclose(clean.probs["ceiling"], dirty.probs["ceiling"])
    assert clean.keys["ceiling"] != dirty.keys["ceiling"]


def test_weak_model_never_predicts_its_own_training_data(small_cfg):
    splits = make_splits(get_task(small_cfg.task).load(), small_cfg.sizes.model_dump(), seed=0)
    assert not set(splits.train_gt.texts) & set(splits.train_w2s.texts)
    assert not set(splits.train_gt.texts) & set(splits.test.texts)
