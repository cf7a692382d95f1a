"""The boosted weak supervisor (`superalign.w2s.boosting`, method `boosted_ensemble`)."""

import numpy as np

from superalign.data import get_task, make_splits
from superalign.w2s import run_experiment
from superalign.w2s.boosting import boosted


def test_samme_weights_follow_each_members_weighted_error(small_cfg):
    splits = make_splits(get_task(small_cfg.task).load(), small_cfg.sizes.model_dump(), seed=0)
    gt, w2s = splits.train_gt, splits.train_w2s
    members = [small_cfg.factory("static"), small_cfg.factory("tfidf")]
    out = boosted(members, 0, list(gt.texts), gt.labels, list(w2s.texts), rounds=4)
    err, alpha = out["error"], out["alpha"]
    assert 1 <= len(alpha) <= 4 and len(err) == len(alpha)
    np.testing.assert_allclose(alpha, np.maximum(np.log((1 - err) / np.maximum(err, 1e-10)), 1e-3), rtol=1e-6)
    assert out["w2s"].shape == (len(w2s), 2)
    np.testing.assert_allclose(out["w2s"].sum(1), 1, atol=1e-5)  # a weighted mean of probabilities
    again = boosted(members, 0, list(gt.texts), gt.labels, list(w2s.texts), rounds=4)
    np.testing.assert_array_equal(out["w2s"], again["w2s"])  # seeded resampling reproduces


def test_boosted_ensemble_is_a_cached_supervisor_stage_keyed_by_its_members(small_cfg, store):
    cfg = small_cfg.model_copy(update={"methods": ["boosted_ensemble"], "seeds": [0]})
    first = run_experiment(cfg, store)
    assert run_experiment(cfg, store).computed == []
    other = cfg.model_copy(update={"method_params": {"boosted_ensemble": {"models": ["static"], "rounds": 3}}})
    second = run_experiment(other, store)
    assert second.computed and not set(second.computed) & set(first.computed[2:])  # new supervisor and student
    assert second.summary["methods"]["boosted_ensemble"]["acc"]["mean"] > 0.5
