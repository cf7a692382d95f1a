"""The method registry and each label intervention, on tiny hand-made inputs."""

import numpy as np
import pytest

from superalign.errors import ConfigError, DataError
from superalign.losses import LOSSES
from superalign.w2s import ExperimentConfig, check_methods
from superalign.w2s.methods import METHODS, MethodContext, Supervisor, check_method, get_method, knn_vote, method_names


class Recorder:
    """A fake strong classifier: records what it is fit on; predicts P(class 1) = 0.7 + 0.01 * fit number."""

    key = "recorder"

    def __init__(self, log: list):
        self.log = log

    def fit(self, texts, soft_labels, loss, loss_name="xent", val=None):
        self.log.append({"texts": list(texts), "targets": np.array(soft_labels), "loss": loss_name})
        self.n = len(self.log)
        return self

    def predict_proba(self, texts):
        p1 = 0.7 + 0.01 * self.n
        return np.tile([1 - p1, p1], (len(texts), 1))


def ctx_for(weak, features=None, supervisors=()):
    log = []
    texts = [f"t{i}" for i in range(len(weak))]
    feats = {t: f for t, f in zip(texts, features)} if features is not None else {}
    ctx = MethodContext(
        texts,
        np.asarray(weak, dtype=np.float32),
        ["a", "b"],
        lambda: Recorder(log),
        lambda ts: np.array([feats[t] for t in ts], dtype=np.float32),
        [np.asarray(s, dtype=np.float32) for s in supervisors],
    )
    return ctx, log


def test_every_loss_is_a_method_and_interventions_are_registered():
    names = method_names()
    assert names[: len(LOSSES)] == list(LOSSES)
    assert {"confident", "knn_relabel", "knn_filter", "weak_ensemble", "s2s"} <= set(METHODS) <= set(names)
    assert {
        "xent",
        "logconf",
        "product",
        "entropy",
        "window",
        "adaptconf",
        "gce",
        "sce",
        "bootstrap_soft",
        "bootstrap_hard",
        "forward",
    } <= set(names)
    ctx, log = ctx_for([[0.2, 0.8], [0.6, 0.4]])
    probs = get_method("gce")(ctx, {"q": 0.5})
    assert log[0]["loss"] == "gce" and np.allclose(log[0]["targets"], ctx.weak_labels) and probs.shape == (2, 2)


def test_unknown_methods_and_params_are_config_errors():
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        check_method("nope", {})
    with pytest.raises(ConfigError, match="no parameter"):
        check_method("logconf", {"alpha": 1})
    with pytest.raises(ConfigError, match="method 'confident': kk"):
        check_method("confident", {"kk": 1})
    with pytest.raises(ConfigError, match="method 'confident': keep"):
        check_method("confident", {"keep": 1.5})
    with pytest.raises(ConfigError, match="unknown loss 'nosuch'"):
        check_method("knn_relabel", {"loss": "nosuch"})
    with pytest.raises(ConfigError, match="no parameter"):
        check_method("s2s", {"loss": "logconf", "loss_params": {"alpha": 2}})
    check_method("s2s", {"loss": "logconf", "loss_params": {"alpha_max": 0.75}, "rounds": 1})


def test_config_all_methods_and_validation_up_front():
    cfg = ExperimentConfig(methods=["all"])
    assert cfg.methods == method_names()
    check_methods(ExperimentConfig.load(None, ["methods=[xent,knn_filter]", "method_params.knn_filter.drop=0.2"]))
    with pytest.raises(ConfigError, match="unknown method 'logconff'"):
        check_methods(ExperimentConfig.load(None, ["method_params.logconff.alpha_max=0.75"]))
    with pytest.raises(Exception, match="unknown model"):
        check_methods(
            ExperimentConfig.load(None, ["methods=[weak_ensemble]", "method_params.weak_ensemble.models=[nosuchmodel]"])
        )
    with pytest.raises(ConfigError, match="needs the strong model's features"):
        check_methods(ExperimentConfig.load(None, ["strong=tfidf", "methods=[knn_relabel]"]))


def test_confident_keeps_the_most_confident_share_of_each_class():
    weak = [[0.9, 0.1], [0.6, 0.4], [0.45, 0.55], [0.1, 0.9], [0.7, 0.3], [0.3, 0.7]]
    ctx, log = ctx_for(weak)
    get_method("confident")(ctx, {"keep": 0.5})
    # class 0 by weak argmax: t0 (.9), t1 (.6), t4 (.7) -> keep round(1.5)=2: t0, t4
    # class 1: t2 (.55), t3 (.9), t5 (.7) -> keep t3, t5
    assert log[0]["texts"] == ["t0", "t3", "t4", "t5"]
    np.testing.assert_allclose(log[0]["targets"], np.array(weak, dtype=np.float32)[[0, 3, 4, 5]])


def test_knn_vote_excludes_the_point_itself():
    x = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1], [0.1, 0.9]], dtype=np.float32)
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1]], dtype=np.float32)
    vote = knn_vote(x, y, k=2)
    # cosine neighbours: 0 -> {1, 2}; 2 -> {1, 0}; 3 -> {4, 2}
    np.testing.assert_allclose(vote[0], [0.5, 0.5])
    np.testing.assert_allclose(vote[2], [1.0, 0.0])
    np.testing.assert_allclose(vote[3], [0.0, 1.0])
    np.testing.assert_allclose(knn_vote(x, y, k=2, chunk=2), vote)  # chunking changes nothing
    with pytest.raises(ConfigError, match="k must be"):
        knn_vote(x, y, k=5)


def _clusters():
    """Two tight clusters of 4; the weak model mislabels one point (t2) of cluster A."""
    feats = [[1, 0.01 * i] for i in range(4)] + [[0.01 * i, 1] for i in range(4)]
    weak = [[0.8, 0.2], [0.9, 0.1], [0.3, 0.7], [0.7, 0.3], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7], [0.4, 0.6]]
    return feats, weak


def test_knn_relabel_fixes_the_label_that_disagrees_with_its_neighbours():
    feats, weak = _clusters()
    ctx, log = ctx_for(weak, feats)
    get_method("knn_relabel")(ctx, {"k": 3})
    targets = log[0]["targets"]
    np.testing.assert_allclose(targets[2], [(0.8 + 0.9 + 0.7) / 3, (0.2 + 0.1 + 0.3) / 3], rtol=1e-6)
    np.testing.assert_allclose(np.delete(targets, 2, 0), np.delete(np.array(weak, dtype=np.float32), 2, 0))
    assert log[0]["texts"] == ctx.texts


def test_knn_filter_drops_disagreements_or_a_share():
    feats, weak = _clusters()
    ctx, log = ctx_for(weak, feats)
    get_method("knn_filter")(ctx, {"k": 3})
    assert log[0]["texts"] == [t for t in ctx.texts if t != "t2"]
    get_method("knn_filter")(ctx, {"k": 3, "drop": 0.25})  # drops the two farthest from their vote
    assert len(log[1]["texts"]) == 6 and "t2" not in log[1]["texts"]
    with pytest.raises(DataError, match="too few examples"):
        ctx1, _ = ctx_for([[0.9, 0.1]] * 3 + [[0.1, 0.9]], [[1, 0]] * 3 + [[1, 0.01]])
        get_method("knn_filter")(ctx1, {"k": 3})


def test_weak_ensemble_supervisors_and_combination():
    m = get_method("weak_ensemble")
    assert m.supervisors(m.parse({}), "static") == [Supervisor("static", i, bag=True) for i in range(3)]
    assert m.supervisors(m.parse({"models": ["tfidf", "static"], "k": 1}), "static") == [
        Supervisor("tfidf"),
        Supervisor("static"),
    ]
    sups = [[[0.9, 0.1], [0.4, 0.6]], [[0.6, 0.4], [0.45, 0.55]], [[0.4, 0.6], [0.8, 0.2]]]
    ctx, log = ctx_for([[0.5, 0.5]] * 2, supervisors=sups)
    m(ctx, {})
    np.testing.assert_allclose(log[0]["targets"], [[1.9 / 3, 1.1 / 3], [1.65 / 3, 1.35 / 3]], rtol=1e-6)
    m(ctx, {"combine": "vote"})  # votes: example 0 -> 0,0,1 -> class 0; example 1 -> 1,1,0 -> class 1
    np.testing.assert_array_equal(log[1]["targets"], [[1, 0], [0, 1]])


def test_s2s_retrains_on_its_own_predictions():
    ctx, log = ctx_for([[0.2, 0.8], [0.6, 0.4]])
    probs = get_method("s2s")(ctx, {"rounds": 2})
    assert len(log) == 3
    np.testing.assert_allclose(log[0]["targets"], ctx.weak_labels)
    np.testing.assert_allclose(log[1]["targets"], [[0.29, 0.71]] * 2)  # the first student's predictions
    np.testing.assert_allclose(log[2]["targets"], [[0.28, 0.72]] * 2)
    np.testing.assert_allclose(probs, [[0.27, 0.73]] * 2)
    ctx, log = ctx_for([[0.2, 0.8], [0.6, 0.4]])
    get_method("s2s")(ctx, {"rounds": 1, "hard": True, "loss": "gce"})
    np.testing.assert_array_equal(log[1]["targets"], [[0, 1], [0, 1]])
    assert [e["loss"] for e in log] == ["gce", "gce"]


def test_chain_config():
    cfg = ExperimentConfig.load(None, ["chain=[tfidf,static,minilm]"])
    assert (cfg.weak, cfg.strong) == ("tfidf", "minilm")
    with pytest.raises(ConfigError, match="contradicts chain"):
        ExperimentConfig.load(None, ["chain=[tfidf,minilm]", "strong=static"])
    with pytest.raises(ConfigError, match="at least two distinct"):
        ExperimentConfig.load(None, ["chain=[static]"])
