"""Ground truth of train_w2s (and of val) must reach the ceiling and nothing else: not the weak
model, not the extra weak supervisors, not a bootstrapping chain's rungs, not any student of any
method (fine-tuned students early-stop on weak labels of val)."""

import dataclasses

import numpy as np
import pytest

from superalign.data import SplitSizes, get_task, make_splits
from superalign.models import FinetuneConfig
from superalign.store import Store
from superalign.w2s import ExperimentConfig, run_seed
from superalign.w2s.methods import method_names

from .conftest import require_assets, require_shared


def _poisoned(splits):
    rng = np.random.default_rng(1)
    return dataclasses.replace(
        splits,
        train_w2s=dataclasses.replace(splits.train_w2s, labels=rng.integers(0, 2, len(splits.train_w2s))),
        val=dataclasses.replace(splits.val, labels=1 - splits.val.labels),
    )


def _assert_only_ceiling_changes(clean, dirty, names):
    for name in names:
        np.testing.assert_array_equal(clean.probs[name], dirty.probs[name], err_msg=name)
        assert clean.keys[name] == dirty.keys[name], name  # the stage never saw the labels
    assert not np.allclose(clean.probs["ceiling"], dirty.probs["ceiling"])
    assert clean.keys["ceiling"] != dirty.keys["ceiling"]


def test_poisoned_w2s_labels_change_only_the_ceiling_for_every_method(small_cfg, store, tmp_path):
    """Every registered method, including weak_ensemble's extra supervisors, sees no train_w2s labels."""
    cfg = small_cfg.model_copy(
        update={
            "sizes": small_cfg.sizes.model_copy(update={"train_gt": 150, "train_w2s": 200, "test": 150}),
            "methods": method_names(),
            "method_params": {"weak_ensemble": {"models": ["tfidf", "static"], "k": 2}, "s2s": {"rounds": 1}},
        }
    )
    splits = make_splits(get_task(cfg.task).load(), cfg.sizes.model_dump(), seed=0)
    weak, strong = cfg.factory(cfg.weak), cfg.factory(cfg.strong)
    clean = run_seed(cfg, splits, 0, store, weak, strong)
    dirty = run_seed(cfg, _poisoned(splits), 0, type(store)(tmp_path / "other"), weak, strong)
    _assert_only_ceiling_changes(clean, dirty, ["weak", *cfg.methods])


def test_poisoned_w2s_labels_do_not_reach_a_bootstrapping_chain(small_cfg, store, tmp_path):
    require_assets("minilm")
    cfg = small_cfg.model_copy(
        update={
            "chain": ["tfidf", "static", "minilm"],
            "weak": "tfidf",
            "strong": "minilm",
            "methods": ["xent", "knn_relabel"],
        }
    )
    splits = make_splits(get_task(cfg.task).load(), cfg.sizes.model_dump(), seed=0)
    weak, strong, rungs = cfg.factory("tfidf"), cfg.factory("minilm"), [cfg.factory("static")]
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
    data_dir = require_shared()
    if "static" in (weak, strong):
        require_assets("static")
    sizes = SplitSizes(train_gt=150, train_w2s=200, val=10, test=150)
    cfg = ExperimentConfig(
        task=task,
        task_args={"data_dir": str(data_dir)},
        weak=weak,
        strong=strong,
        methods=methods,
        seeds=[0],
        sizes=sizes,
    )
    splits = make_splits(get_task(task, data_dir=str(data_dir)).load(), sizes.model_dump(), seed=0)
    weak, strong = cfg.factory(cfg.weak), cfg.factory(cfg.strong)
    clean = run_seed(cfg, splits, 0, store, weak, strong)
    dirty = run_seed(cfg, _poisoned(splits), 0, type(store)(tmp_path / "other"), weak, strong)
    _assert_only_ceiling_changes(clean, dirty, ["weak", *cfg.methods])


@pytest.mark.parametrize("split", ["train_w2s", "test"])
def test_weak_model_never_predicts_its_own_training_data(small_cfg, split):
    splits = make_splits(get_task(small_cfg.task).load(), small_cfg.sizes.model_dump(), seed=0)
    assert not set(splits.train_gt.texts) & set(getattr(splits, split).texts)


def test_finetuned_students_early_stop_on_weak_val_labels_never_ground_truth(
    small_cfg, tiny_models, one_torch_thread, tmp_path, monkeypatch
):
    """In finetune mode the students early-stop on val labelled by the weak model; poisoning the
    ground truth of train_w2s *and* val changes the ceiling alone."""
    from superalign.models.finetune import FinetuneClassifier

    ft = FinetuneConfig(epochs=2, batch_size=32, lr=2e-3, max_length=32, eval_every=3, patience=1, dropout=False)
    cfg = small_cfg.model_copy(
        update={"mode": "finetune", "strong": tiny_models["bert"], "finetune": ft, "methods": ["xent", "logconf"]}
    )
    splits = make_splits(get_task(cfg.task).load(), cfg.sizes.model_dump(), seed=0)
    rng = np.random.default_rng(1)
    poisoned = dataclasses.replace(
        splits,
        train_w2s=dataclasses.replace(splits.train_w2s, labels=rng.integers(0, 2, len(splits.train_w2s))),
        val=dataclasses.replace(splits.val, labels=1 - splits.val.labels),
    )
    seen = []
    fit = FinetuneClassifier.fit

    def spy(self, texts, soft_labels, loss, loss_name="xent", val=None):
        seen.append((loss_name, np.asarray(soft_labels), val))
        return fit(self, texts, soft_labels, loss, loss_name, val)

    monkeypatch.setattr(FinetuneClassifier, "fit", spy)
    weak, strong = cfg.factory(cfg.weak), cfg.factory(cfg.strong)
    assert not weak.finetune and strong.finetune and strong.uses_val
    clean = run_seed(cfg, splits, 0, Store(tmp_path / "a"), weak, strong)
    clean_seen, seen[:] = list(seen), []
    dirty = run_seed(cfg, poisoned, 0, Store(tmp_path / "b"), weak, strong)
    for name in ["weak", *cfg.methods]:
        np.testing.assert_array_equal(clean.probs[name], dirty.probs[name], err_msg=name)
        assert clean.keys[name] == dirty.keys[name]
    assert clean.keys["ceiling"] != dirty.keys["ceiling"]
    # what each fine-tuned model was given as its validation set
    (c_name, _, c_val), *students = clean_seen
    assert c_name == "xent" and list(c_val[0]) == splits.val.texts
    np.testing.assert_array_equal(c_val[1].argmax(1), splits.val.labels)  # the ceiling: ground truth
    weak_val = students[0][2][1]
    for (_, _, val), (_, _, dirty_val) in zip(students, seen[1:]):
        assert list(val[0]) == splits.val.texts
        np.testing.assert_array_equal(val[1], weak_val)  # students: the weak model's labels
        np.testing.assert_array_equal(dirty_val[1], weak_val)
    assert not np.array_equal(weak_val.argmax(1), splits.val.labels)  # a real weak model errs
