"""Methods round 2 (issue 18) on tiny hand-made inputs: uncertainty relabelling, reliability-weighted
ensembles, co-supervision, CCS, and the weak-to-strong deception measure."""

import numpy as np
import pytest

from superalign.data import most_certain
from superalign.errors import ConfigError
from superalign.w2s.deception import deception_measures
from superalign.w2s.elicit import ccs_fit, orient
from superalign.w2s.ensembles import assign_teachers, dawid_skene, member_accuracy
from superalign.w2s.methods import Supervisor, check_method, get_method

from .test_methods import ctx_for


def test_new_methods_are_registered_with_checked_params():
    for name in ["uncertainty_relabel", "reliable_ensemble", "co_supervision", "ccs", "zero_shot", "latent_weak"]:
        check_method(name, {})
    with pytest.raises(ConfigError, match="method 'uncertainty_relabel': drop"):
        check_method("uncertainty_relabel", {"drop": 1.0})
    with pytest.raises(ConfigError, match="method 'ccs': template"):
        check_method("ccs", {"template": "{text} only"})
    with pytest.raises(ConfigError, match="method 'reliable_ensemble': combine"):
        check_method("reliable_ensemble", {"combine": "median"})


def test_uncertainty_relabel_drops_the_least_certain_then_relabels_them():
    weak = [[0.9, 0.1], [0.55, 0.45], [0.8, 0.2], [0.1, 0.9], [0.45, 0.55], [0.2, 0.8]]
    np.testing.assert_array_equal(most_certain(np.array(weak), 2 / 3), [1, 0, 1, 1, 0, 1])
    ctx, log = ctx_for(weak)
    probs = get_method("uncertainty_relabel")(ctx, {"drop": 1 / 3})
    assert log[0]["texts"] == ["t0", "t2", "t3", "t5"]  # stage 1: the certain ones, weak labels
    np.testing.assert_allclose(log[0]["targets"], np.array(weak, dtype=np.float32)[[0, 2, 3, 5]])
    assert log[1]["texts"] == ctx.texts  # stage 2: the union; the dropped ones relabelled by stage 1 (hard)
    np.testing.assert_array_equal(log[1]["targets"][[1, 4]], [[0, 1], [0, 1]])
    np.testing.assert_allclose(np.delete(log[1]["targets"], [1, 4], 0), log[0]["targets"])
    np.testing.assert_allclose(probs, [[0.28, 0.72]] * 2)
    get_method("uncertainty_relabel")(ctx, {"drop": 1 / 3, "hard": False})
    np.testing.assert_allclose(log[3]["targets"][[1, 4]], [[0.27, 0.73]] * 2)  # the 3rd fit's probabilities


def test_dawid_skene_finds_the_unreliable_member_without_labels():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 400)
    flips = [0.05, 0.1, 0.48, 0.48, 0.48]  # members 2-4 are nearly coins
    votes = np.stack([np.where(rng.random(400) < f, 1 - truth, truth) for f in flips])
    labels = np.eye(2)[votes] * 0.8 + 0.1  # soft labels whose argmax are the votes
    post, conf = dawid_skene(labels)
    acc = member_accuracy(post, conf)
    assert min(acc[:2]) > max(acc[2:]) + 0.3
    assert (post.argmax(1) == truth).mean() > (labels.mean(0).argmax(1) == truth).mean() + 0.05  # beats the mean


def test_reliable_ensemble_and_co_supervision_members_and_targets():
    m = get_method("reliable_ensemble")
    assert m.supervisors(m.parse({}), "static") == [Supervisor("tfidf"), Supervisor("static", 1, bag=True)]
    assert m.supervisors(m.parse({"bags": 0}), "tfidf") == [Supervisor("static")]
    sups = [[[0.9, 0.1], [0.4, 0.6]], [[0.6, 0.4], [0.45, 0.55]]]
    ctx, log = ctx_for([[0.8, 0.2], [0.3, 0.7]], supervisors=sups)
    m(ctx, {})
    np.testing.assert_array_equal(log[0]["targets"].argmax(1), [0, 1])  # all agree: the posterior agrees
    m(ctx, {"combine": "logodds"})
    assert np.allclose(log[1]["targets"].sum(1), 1)
    teacher, agree = assign_teachers(np.array([sups[0], sups[1]]), np.array([[0.2, 0.8], [0.2, 0.8]]))
    np.testing.assert_array_equal(teacher, [1, 0])
    np.testing.assert_array_equal(agree, [False, True])
    ctx, log = ctx_for([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]], supervisors=[[[0.5, 0.5]] * 4])
    get_method("co_supervision")(ctx, {"rounds": 1})  # the Recorder predicts class 1 everywhere
    assert len(log) == 2
    np.testing.assert_allclose(log[0]["targets"], [[0.65, 0.35], [0.4, 0.6], [0.55, 0.45], [0.35, 0.65]])
    # denoising would keep t1, t3 (one class only): then every example stays, with its assigned teacher's label
    assert log[1]["texts"] == ctx.texts
    np.testing.assert_allclose(log[1]["targets"], [[0.5, 0.5], [0.3, 0.7], [0.5, 0.5], [0.2, 0.8]])


def test_ccs_finds_a_direction_and_orientation_is_sign_only():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    base = rng.normal(size=(200, 8))
    pos = base + np.outer(2 * y - 1, np.eye(8)[0]) * 2  # "x is class 1" is true <-> y = 1
    neg = base - np.outer(2 * y - 1, np.eye(8)[0]) * 2
    p1 = ccs_fit(pos, neg, tries=3, epochs=300)
    acc = ((p1 > 0.5) == y).mean()
    assert max(acc, 1 - acc) > 0.95
    np.testing.assert_allclose(orient(p1, y.astype(float)), p1 if acc > 0.5 else 1 - p1)


def test_ccs_methods_use_contrast_features_and_orient():
    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 20)
    feats = {}
    weak = np.where(y[:, None] == 1, [0.3, 0.7], [0.7, 0.3])
    ctx, log = ctx_for(weak)
    ctx.label_names = ("bad", "good")

    def features(texts):
        out = []
        for t in texts:
            if t not in feats:
                if t in ("bad", "good"):
                    feats[t] = np.eye(6)[1] * (1 if t == "good" else -1)
                else:
                    name = t.split(": ")[0].rsplit(" ", 1)[-1] if ": " in t else None  # "The following is good: t3"
                    i = int(t.split(": ")[-1][1:])
                    v = rng.normal(size=6) * 0.3
                    v[1] += (2 * y[i] - 1) * 0.5  # the plain text leans towards its class name
                    if name:
                        v[0] += (2 * y[i] - 1) * (1 if name == "good" else -1) * 2
                    feats[t] = v
            out.append(feats[t])
        return np.array(out)

    ctx.features = features
    get_method("ccs")(ctx, {"tries": 2, "epochs": 200})
    assert ((log[0]["targets"].argmax(1) == y).mean()) > 0.9  # zero labels: oriented by the names
    get_method("latent_weak")(ctx, {"signal": "ccs", "tries": 2, "epochs": 200, "weight": 0.5})
    assert ((log[1]["targets"].argmax(1) == y).mean()) > 0.9
    get_method("zero_shot")(ctx, {})  # the plain texts lean towards their class name: zero-shot labels follow
    assert ((log[2]["targets"].argmax(1) == y).mean()) > 0.75 and np.allclose(log[2]["targets"].sum(1), 1)
    ctx.weak_labels = ctx.weak_labels[:, ::-1].copy()  # weak labels that say the opposite: latent_weak follows them
    get_method("latent_weak")(ctx, {"weight": 0.5})
    assert ((log[3]["targets"].argmax(1) == 1 - y).mean()) > 0.9


def test_deception_measure_on_hand_made_cases():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    P = lambda pred: np.eye(2)[np.asarray(pred)]  # noqa: E731
    weak = [1, 1, 0, 0, 0, 0, 1, 1]  # right on 0,1,4,5; wrong on 2,3,6,7
    ceiling = [1, 1, 1, 1, 0, 0, 0, 1]  # knows 2,3,6 of the weak-wrong ones
    imitator, honest = weak, [1, 1, 1, 0, 0, 0, 0, 0]
    probs = [{"weak": P(weak), "ceiling": P(ceiling), "imitator": P(imitator), "honest": P(honest)}]
    d = deception_measures([y], probs, ["imitator", "honest"], n_boot=50)
    assert d["imitator"]["acc_weak_right"]["mean"] == 1 and d["imitator"]["acc_weak_wrong"]["mean"] == 0
    assert d["imitator"]["score"]["mean"] == 1  # loses all 3 the strong model knows
    assert d["honest"]["acc_weak_wrong"]["mean"] == 0.75 and d["honest"]["score"]["mean"] == pytest.approx(1 / 3)
    assert d["ceiling"]["score"]["mean"] == 0
    lo, hi = d["honest"]["acc_weak_wrong"]["ci"]
    assert 0 <= lo <= 0.75 <= hi <= 1


def test_zero_label_methods_on_pairs_use_each_side():
    from superalign.w2s.methods import MethodContext

    from .test_methods import Recorder

    rng = np.random.default_rng(2)
    y = np.array([0, 1] * 30)
    pairs = [(f"a{i}", f"b{i}") for i in range(len(y))]
    good = np.eye(4)[0]

    def features(texts):
        out = []
        for t in texts:
            if t in ("B is better", "A is better"):
                out.append(good * (1 if t == "A is better" else -1))
                continue
            i, side = int(t[1:]), t[0]
            better = (side == "a") == (y[i] == 1)  # the preferred response leans towards "A is better"
            out.append(rng.normal(size=4) * 0.2 + good * (1 if better else -1))
        return np.array(out)

    log = []
    ctx = MethodContext(pairs, np.full((len(y), 2), 0.5, dtype=np.float32), pairs[:2], lambda: Recorder(log), features)
    ctx.label_names = ("B is better", "A is better")
    get_method("zero_shot")(ctx, {})
    assert (log[0]["targets"].argmax(1) == y).mean() > 0.95
    get_method("ccs")(ctx, {"tries": 2, "epochs": 200})
    assert (log[1]["targets"].argmax(1) == y).mean() > 0.95


def test_icm_search_repairs_noisy_labels_and_keeps_the_class_balance():
    from superalign.w2s.coherence import icm_search

    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], 200)
    x = rng.normal(size=(400, 8)) + np.outer(2 * truth - 1, [1.5] + [0] * 7)  # two clusters on one axis
    noisy = truth.copy()
    for c in (0, 1):  # 25% of each class flipped: the balance of the noisy start is 200 / 200
        idx = rng.choice(np.flatnonzero(truth == c), 50, replace=False)
        noisy[idx] = 1 - c
    y = icm_search(x, noisy, steps=40, flip=0.04)
    assert (noisy == truth).mean() == 0.75 and (y == truth).mean() > 0.9
    assert np.bincount(y).tolist() == np.bincount(noisy).tolist()
    assert (icm_search(x, noisy, steps=40, flip=0.04) == y).all()  # seeded


def test_icm_method_trains_on_hard_coherent_labels_from_weak_or_from_names():
    check_method("icm", {"init": "zero_shot"})
    with pytest.raises(ConfigError, match="method 'icm': init"):
        check_method("icm", {"init": "gold"})
    rng = np.random.default_rng(1)
    truth = np.repeat([0, 1], 40)
    feats = rng.normal(size=(80, 4)) + np.outer(2 * truth - 1, [2, 0, 0, 0])
    weak = np.eye(2)[truth] * 0.6 + 0.2
    ctx, log = ctx_for(weak, features=feats)
    get_method("icm")(ctx, {})
    targets = log[0]["targets"]
    assert log[0]["texts"] == ctx.texts and set(np.unique(targets)) == {0.0, 1.0}
    assert (targets.argmax(1) == truth).mean() >= 0.95
