"""Generative fine-tuning (Burns et al. 2023, sec. 5.2.2) on tiny random models: the LM objective
trains on unlabelled inputs only, is a cached stage, and feeds the ceiling and the students."""

import dataclasses

import numpy as np
import pytest

from superalign.data import get_task, make_splits
from superalign.errors import ConfigError
from superalign.models import FinetuneConfig, LMPretrainConfig
from superalign.store import Store
from superalign.w2s import ExperimentConfig, run_seed


def test_lm_pretrain_config_needs_finetune_and_keeps_old_hashes():
    assert ExperimentConfig().hash() == ExperimentConfig(lm_pretrain=LMPretrainConfig(epochs=3)).hash()
    on = ExperimentConfig(mode="finetune", lm_pretrain=LMPretrainConfig(enabled=True))
    assert on.hash() != ExperimentConfig(mode="finetune").hash()
    with pytest.raises(ConfigError, match="needs mode=finetune"):
        ExperimentConfig.load(None, ["lm_pretrain.enabled=true"])


def test_mask_tokens_follows_bert():
    import torch

    from superalign.models.lmtune import mask_tokens

    ids = torch.arange(10, 10010).reshape(100, 100)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    inputs, labels = mask_tokens(ids, special, 3, 50, 0.15, torch.Generator().manual_seed(0))
    chosen = labels != -100
    assert not chosen[:, 0].any() and abs(chosen.float().mean() - 0.15 * 0.99) < 0.01
    assert (labels[chosen] == ids[chosen]).all() and (inputs[~chosen] == ids[~chosen]).all()
    assert abs((inputs[chosen] == 3).float().mean() - 0.8) < 0.03


@pytest.mark.parametrize("arch", ["bert", "gpt2"])
def test_lm_pretrain_runs_and_is_a_cached_stage_without_labels(
    arch, small_cfg, tiny_models, one_torch_thread, tmp_path
):
    ft = FinetuneConfig(epochs=1, batch_size=32, lr=2e-3, max_length=32, early_stopping=False, dropout=False)
    lm = LMPretrainConfig(enabled=True, epochs=1, batch_size=32, lr=1e-3, max_length=32, max_texts=64)
    sizes = small_cfg.sizes.model_copy(update={"train_gt": 100, "train_w2s": 100, "val": 10, "test": 60})
    cfg = small_cfg.model_copy(
        update={"mode": "finetune", "strong": tiny_models[arch], "finetune": ft, "methods": ["xent"], "sizes": sizes}
    )
    cfg_lm = cfg.model_copy(update={"lm_pretrain": lm})
    splits = make_splits(get_task(cfg.task).load(), sizes.model_dump(), seed=0)
    weak, strong = cfg.factory(cfg.weak), cfg.factory(cfg.strong)
    store = Store(tmp_path / "a")
    plain = run_seed(cfg, splits, 0, store, weak, strong)
    before = len(store.computed)
    pre = run_seed(cfg_lm, splits, 0, store, weak, strong)
    assert pre.keys["weak"] == plain.keys["weak"]  # the weak model is not touched
    assert pre.keys["ceiling"] != plain.keys["ceiling"] and pre.keys["xent"] != plain.keys["xent"]
    lm_keys = [k for k in store.computed[before:] if k not in pre.keys.values()]
    assert len(lm_keys) == 1 and (store.checkpoint_dir(lm_keys[0]) / "model" / "config.json").exists()
    again = run_seed(cfg_lm, splits, 0, store, weak, strong)  # everything cached
    assert again.keys == pre.keys and len(store.computed) == before + len(lm_keys) + 2
    # poisoned labels of train_w2s: the pretraining stage (texts only) is shared, the students unchanged
    rng = np.random.default_rng(1)
    poisoned = dataclasses.replace(
        splits, train_w2s=dataclasses.replace(splits.train_w2s, labels=rng.integers(0, 2, len(splits.train_w2s)))
    )
    dirty = run_seed(cfg_lm, poisoned, 0, store, weak, strong)
    assert dirty.keys["xent"] == pre.keys["xent"] and dirty.keys["ceiling"] != pre.keys["ceiling"]
