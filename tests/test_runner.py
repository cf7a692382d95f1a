import json
from pathlib import Path

import numpy as np
import pytest

from superalign.store import Store
from superalign.w2s import ExperimentConfig, run_experiment

from .conftest import SMALL, require_assets, require_shared


def test_same_seed_same_summary(small_cfg, tmp_path):
    a = run_experiment(small_cfg, Store(tmp_path / "a")).summary
    b = run_experiment(small_cfg, Store(tmp_path / "b")).summary
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_rerun_is_served_from_cache_and_one_new_method_recomputes_only_itself(small_cfg, store):
    first = run_experiment(small_cfg, store)
    n_seeds = len(small_cfg.seeds)
    assert len(first.computed) == n_seeds * (2 + len(small_cfg.methods))
    again = run_experiment(small_cfg, store)
    assert again.computed == [] and again.summary == first.summary
    changed = small_cfg.model_copy(update={"methods": ["xent", "product"]})
    third = run_experiment(changed, store)
    assert len(third.computed) == n_seeds  # only the product students
    assert third.summary["methods"]["xent"] == first.summary["methods"]["xent"]
    # a changed hyper-parameter is a different method too
    tuned = small_cfg.model_copy(update={"method_params": {"logconf": {"alpha_max": 0.75}}})
    assert len(run_experiment(tuned, store).computed) == n_seeds


def test_a_cold_run_encodes_everything_in_one_call_before_its_first_stage(small_cfg, store, monkeypatch):
    """`prefetch_features`: the first encoder call holds every input of every seed; no later call
    misses the cache; a fully stored rerun encodes nothing."""
    from superalign.models import CachedEncoder

    calls = []
    encode = CachedEncoder.encode

    def spy(self, texts):
        before = self.misses
        out = encode(self, texts)
        calls.append((len(texts), self.misses - before))
        return out

    monkeypatch.setattr(CachedEncoder, "encode", spy)
    run_experiment(small_cfg, store)
    n = sum(SMALL.model_dump().values()) - SMALL.train_gt  # the strong model never reads train_gt
    assert n - 10 <= calls[0][0] <= len(small_cfg.seeds) * n  # the seeds reshuffle one pool
    assert all(missed == 0 for _, missed in calls[1:]), calls
    calls.clear()
    run_experiment(small_cfg, store)
    assert calls == []


def test_a_cold_run_encodes_a_static_weak_model_in_a_second_process(tmp_path, monkeypatch):
    """While this process loads and runs MiniLM, a second one writes the static model's features:
    this process's weak encoder then misses nothing, and reads the vectors it would have made."""
    require_assets("vader", "static", "minilm")
    from superalign import assets
    from superalign.data import get_task, make_splits
    from superalign.models import background, encoder_for
    from superalign.w2s.stages import prefetch_features

    home = tmp_path / "home"  # an empty feature cache, the real assets
    home.mkdir()
    (home / "assets").symlink_to(assets.home() / "assets")
    monkeypatch.setenv("SUPERALIGN_HOME", str(home))
    monkeypatch.setattr(background, "MIN_MISSES", 200)
    cfg = ExperimentConfig(weak="static", strong="minilm", sizes=SMALL)
    weak, strong = cfg.factory(cfg.weak), cfg.factory(cfg.strong)
    splits = make_splits(get_task(cfg.task).load(), SMALL.model_dump(), seed=0, data_seed=cfg.data_seed)
    prefetch_features(weak, [strong], [splits])
    weak_texts = {t for part in ("train_gt", "train_w2s", "val", "test") for t in getattr(splits, part).texts}
    assert strong.encoder.misses > 0
    assert weak.encoder.misses == 0 and weak.encoder.hits == len(weak_texts)
    texts = list(splits.train_gt.texts)
    np.testing.assert_array_equal(weak.encoder.encode(texts), encoder_for("static").encode(texts))


def test_results_table_and_run_folder(small_cfg, store):
    res = run_experiment(small_cfg, store)
    rows = store.rows(small_cfg.hash())
    assert len(rows) == len(small_cfg.seeds) * (2 + len(small_cfg.methods))
    assert {r["role"] for r in rows} == {"weak", "ceiling", "student"}
    saved = json.loads((store.run_dir(small_cfg.hash()) / "summary.json").read_text())
    assert saved == json.loads(json.dumps(res.summary))


def test_end_to_end_real_sentiment_static_to_minilm(store):
    """The default ladder on real human-labelled data, at small sizes: weak < ceiling, PGR defined."""
    require_assets("vader", "static", "minilm")
    cfg = ExperimentConfig(
        seeds=[0, 1], sizes=SMALL.model_copy(update={"train_w2s": 600, "test": 500}), n_bootstrap=300
    )
    s = run_experiment(cfg, store).summary
    assert set(s) >= {"task", "weak", "strong", "seeds", "weak_acc", "ceiling_acc", "methods", "config_hash"}
    assert s["weak_acc"]["ci"][1] < s["ceiling_acc"]["ci"][0], s
    for m in ("xent", "logconf"):
        pgr = s["methods"][m]["pgr"]
        assert pgr["mean"] is not None and pgr["ci"][0] <= pgr["mean"] <= pgr["ci"][1]
        assert 0.5 < s["methods"][m]["acc"]["mean"] < 1


def test_weak_ensemble_supervisors_are_cached_stages_in_the_student_key(small_cfg, store):
    cfg = small_cfg.model_copy(
        update={"methods": ["xent", "weak_ensemble"], "seeds": [0], "method_params": {"weak_ensemble": {"k": 2}}}
    )
    first = run_experiment(cfg, store)
    assert len(first.computed) == 2 + 2 + 2  # weak, ceiling, 2 bagged supervisors, 2 students
    secs = {r["method"]: r["seconds"] for r in first.rows if r["role"] == "student"}
    assert secs["xent"] > 0 and secs["weak_ensemble"] > 0  # the ensemble's time includes its supervisors
    assert all(r["seconds"] == 0 for r in run_experiment(cfg, store).rows)  # served from the cache
    other = cfg.model_copy(update={"method_params": {"weak_ensemble": {"k": 2, "models": ["static"]}}})
    second = run_experiment(other, store)
    assert len(second.computed) == 2 + 1  # new supervisors and the ensemble's student; xent is reused
    assert second.summary["methods"]["xent"] == first.summary["methods"]["xent"]
    assert second.summary["methods"]["weak_ensemble"] != first.summary["methods"]["weak_ensemble"]


def test_cached_rerun_never_imports_torch(small_cfg, store, tmp_path):
    """A fully cached run (interventions and their supervisors included) stays torch-free, hence fast."""
    import subprocess
    import sys

    cfg = small_cfg.model_copy(update={"methods": ["xent", "weak_ensemble", "knn_relabel"], "seeds": [0]})
    run_experiment(cfg, store)
    (tmp_path / "cfg.json").write_text(cfg.model_dump_json())
    code = (
        "import sys, pathlib; from superalign.w2s import ExperimentConfig; from superalign.store import Store; "
        "from superalign.w2s import run_experiment; "
        f"cfg = ExperimentConfig.model_validate_json(pathlib.Path({str(tmp_path / 'cfg.json')!r}).read_text()); "
        "r = run_experiment(cfg, "
        f"Store({str(store.root)!r})); print(len(r.computed), 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1]
    )
    assert out.stdout.split() == ["0", "False"], out.stderr


def test_primary_metric_threads_through_summary_and_pgr(store):
    """toxicity's primary metric is balanced accuracy: scores and PGR use it, acc stays plain accuracy."""
    data_dir = require_shared()
    sizes = SMALL.model_copy(update={"train_gt": 200, "train_w2s": 400, "test": 400})
    cfg = ExperimentConfig(
        task="toxicity",
        task_args={"data_dir": str(data_dir)},
        weak="profanity_check",
        strong="tfidf",
        methods=["xent"],
        seeds=[0],
        sizes=sizes,
        n_bootstrap=100,
    )
    res = run_experiment(cfg, store)
    s = res.summary
    assert s["metric"] == "balanced_accuracy"
    rows = {r["role"]: r for r in res.rows}
    assert s["weak_acc"]["mean"] == rows["weak"]["acc"] and s["weak_score"]["mean"] == rows["weak"]["bal_acc"]
    assert s["weak_score"]["mean"] != s["weak_acc"]["mean"]  # 83% toxic: the two metrics differ
    w, c, m = s["weak_score"]["mean"], s["ceiling_score"]["mean"], s["methods"]["xent"]["score"]["mean"]
    pgr = s["methods"]["xent"]["pgr"]
    if pgr["mean"] is not None:
        assert pgr["mean"] == pytest.approx((m - w) / (c - w))
    else:  # the pretrained scorer saw this data in its own training: weak >= ceiling is expected
        assert "gap" in pgr["reason"] and s["gap"]["mean"] == pytest.approx(c - w)


def test_check_before_compute_runs_once_before_the_first_miss_only(tmp_path):
    store = Store(tmp_path / "runs")
    store.stage("cached", lambda: {"x": np.zeros(1)})
    calls = []
    with store.check_before_compute(lambda: calls.append(1)):
        store.stage("cached", lambda: {"x": np.zeros(1)})
        assert calls == []  # a hit never checks
        store.stage("new", lambda: {"x": np.ones(1)})
        store.stage("newer", lambda: {"x": np.ones(1)})
    assert calls == [1]
    store.stage("newest", lambda: {"x": np.ones(1)})  # outside the block: no check
    assert calls == [1]
