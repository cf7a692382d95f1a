"""Weak supervisors beyond the weak model: the boosted ensemble (`superalign.w2s.boosting`,
method `boosted_ensemble`) and topic specialists (`superalign.w2s.specialists`, method
`co_supervision_hier`). Their leakage is covered by tests/test_leakage.py (every method)."""

import numpy as np

from superalign.data import get_task, make_splits
from superalign.w2s import run_experiment
from superalign.w2s.boosting import boosted
from superalign.w2s.specialists import topic_cluster


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
    # every label source is scored on train_w2s for the record: the weak labels and the boosted ensemble's
    names = second.summary["methods"]["boosted_ensemble"]["supervisors"]
    assert names == ["boosted tfidf+static x3"]
    scores = second.summary["train_w2s_label_score"]
    assert set(scores) == {"weak", *names} and all(0.5 < v <= 1 for v in scores.values())


def test_topic_clusters_partition_train_gt_without_labels(small_cfg):
    gt = make_splits(get_task(small_cfg.task).load(), small_cfg.sizes.model_dump(), seed=0).train_gt
    parts = [topic_cluster(gt.texts, gt.labels, 3, i, seed=0) for i in range(3)]
    if all(len(p) < len(gt) for p in parts):  # no cluster fell back to all of train_gt
        np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(len(gt)))
    flipped = [topic_cluster(gt.texts, 1 - gt.labels, 3, i, seed=0) for i in range(3)]
    for a, b in zip(parts, flipped):  # the clusters are made from the texts alone
        np.testing.assert_array_equal(a, b)
    one_class = np.zeros(len(gt), dtype=int)
    assert len(topic_cluster(gt.texts, one_class, 3, 0, seed=0)) == len(gt)  # cannot train a specialist


def test_hierarchical_co_supervision_trains_one_specialist_per_cluster(small_cfg, store):
    params = {"co_supervision_hier": {"levels": [2]}}
    cfg = small_cfg.model_copy(update={"methods": ["co_supervision_hier"], "seeds": [0], "method_params": params})
    res = run_experiment(cfg, store)
    # weak, ceiling; generalists: static (tfidf is the weak model) and a bagged copy; 2 specialists; the student
    assert len(res.computed) == 2 + 2 + 2 + 1
    assert res.summary["methods"]["co_supervision_hier"]["acc"]["mean"] > 0.5


def test_a_tuned_method_records_the_supervisors_of_its_chosen_candidate(small_cfg, store):
    from superalign.w2s.tuning import TuneConfig

    grid = {"boosted_ensemble": {"rounds": [2, 3]}}
    tune = TuneConfig(grid=grid, criterion="weak_acc")
    params = {"boosted_ensemble": {"models": ["static"]}}
    cfg = small_cfg.model_copy(
        update={"methods": ["boosted_ensemble"], "seeds": [0], "tune": tune, "method_params": params}
    )
    s = run_experiment(cfg, store).summary
    (chosen,) = s["tuning"]["boosted_ensemble"]["chosen"]  # the one seed's candidate, by name
    rounds = {"boosted_ensemble[rounds=2]": 2, "boosted_ensemble[rounds=3]": 3}[chosen]
    assert s["methods"]["boosted_ensemble"]["supervisors"] == [f"boosted tfidf+static x{rounds}"]
