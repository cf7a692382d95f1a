import numpy as np
import pytest

from superalign.metrics import PGRAnalysis, accuracy, auroc, ece, evaluate


def test_basic_metrics():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 1, 1])
    assert accuracy(probs, y) == 0.75
    assert auroc(probs, y) == pytest.approx(1.0)  # every positive scores above the negative
    # bins: .9 (correct), .8 (correct), .6 (wrong), .7 (correct) -> |1-.9|+|1-.8|+|0-.6|+|1-.7| over 4
    assert ece(probs, y) == pytest.approx((0.1 + 0.2 + 0.6 + 0.3) / 4)
    assert np.isnan(auroc(probs, np.ones(4, int)))
    assert evaluate(probs, y, probs)["agreement"] == 1.0


def test_auroc_matches_scikit_learn_with_ties(rng):
    from sklearn.metrics import roc_auc_score

    for _ in range(5):
        y = rng.integers(0, 2, 300)
        p1 = np.round(rng.random(300) * 0.5 + 0.3 * y, 2)  # rounded: many ties
        probs = np.stack([1 - p1, p1], axis=1)
        assert auroc(probs, y) == pytest.approx(roc_auc_score(y, p1), abs=1e-12)


def _correct(acc: float, n: int, rng) -> np.ndarray:
    c = np.zeros(n, bool)
    c[rng.permutation(n)[: int(round(acc * n))]] = True
    return c


def test_pgr_point_estimate_and_ci(rng):
    n = 2000
    correct = {
        "weak": [_correct(0.60, n, rng) for _ in range(3)],
        "ceiling": [_correct(0.80, n, rng) for _ in range(3)],
        "m": [_correct(0.70, n, rng) for _ in range(3)],
    }
    a = PGRAnalysis(correct, n_boot=300)
    est = a.pgr("m")
    assert est.mean == pytest.approx(0.5, abs=1e-9)  # (0.70 - 0.60) / (0.80 - 0.60)
    assert est.ci[0] < 0.5 < est.ci[1] and est.ci[1] - est.ci[0] < 0.3


def test_pgr_undefined_when_gap_tiny(rng):
    # a 0.018 gap would turn noise into wild PGRs: reported as undefined with a reason
    n = 1000
    correct = {"weak": [_correct(0.700, n, rng)], "ceiling": [_correct(0.718, n, rng)], "m": [_correct(0.677, n, rng)]}
    est = PGRAnalysis(correct, n_boot=200).pgr("m")
    assert est.mean is None and est.ci is None and "gap" in est.reason
    assert "undefined" in est.fmt()


def test_pgr_undefined_when_gap_ci_reaches_zero(rng):
    n = 100  # noisy: a 0.05 gap whose CI crosses 0
    correct = {"weak": [_correct(0.60, n, rng)], "ceiling": [_correct(0.65, n, rng)], "m": [_correct(0.62, n, rng)]}
    est = PGRAnalysis(correct, n_boot=300, min_gap=0.02).pgr("m")
    assert est.mean is None and "reaches 0" in est.reason


def test_pgr_never_crashes_on_equal_or_inverted_models(rng):
    same = [_correct(0.7, 500, rng)]
    for ceiling in (same, [_correct(0.6, 500, rng)]):
        est = PGRAnalysis({"weak": same, "ceiling": ceiling, "m": same}, n_boot=50).pgr("m")
        assert est.mean is None and est.reason


def test_paired_pgr_difference_is_tighter_than_unpaired(rng):
    n = 2000
    m = [_correct(0.70, n, rng) for _ in range(3)]
    better = []  # m plus 40 more correct examples per seed: a small, consistent improvement
    for c in m:
        b = c.copy()
        b[np.flatnonzero(~c)[:40]] = True
        better.append(b)
    correct = {
        "weak": [_correct(0.60, n, rng) for _ in range(3)],
        "ceiling": [_correct(0.80, n, rng) for _ in range(3)],
        "m": m,
        "better": better,
    }
    a = PGRAnalysis(correct, n_boot=300)
    d = a.pgr_diff("better", "m")
    assert d.mean == pytest.approx(a.pgr("better").mean - a.pgr("m").mean) == pytest.approx(0.02 / 0.2)
    assert d.ci[0] > 0  # paired: clearly positive, although the two PGR CIs overlap
    assert a.pgr("better").ci[0] < a.pgr("m").ci[1]
    assert a.pgr_diff("m", "m").ci == (0.0, 0.0)


def test_balanced_accuracy_hand_value():
    from superalign.metrics import balanced_accuracy

    # class 1: 2 of 3 right; class 0: 1 of 2 right -> (2/3 + 1/2) / 2; plain accuracy 3/5
    probs = np.array([[0.2, 0.8], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
    y = np.array([1, 1, 1, 0, 0])
    assert balanced_accuracy(probs, y) == pytest.approx((2 / 3 + 0.5) / 2)
    assert evaluate(probs, y)["bal_acc"] == pytest.approx(balanced_accuracy(probs, y))


def test_pgr_on_balanced_accuracy(rng):
    """An always-positive weak model on 80/20 data scores 0.8 accuracy but 0.5 balanced accuracy."""
    n = 1000
    y = (np.arange(n) < 800).astype(np.int64)
    weak = y == 1  # predicts 1 everywhere: right on every positive, wrong on every negative
    ceiling = np.ones(n, bool)
    ceiling[rng.permutation(n)[:100]] = False  # 90% right, spread over both classes
    student = np.where(y == 1, True, rng.random(n) < 0.5)  # half the negatives right
    correct = {"weak": [weak], "ceiling": [ceiling], "m": [student]}
    bal = PGRAnalysis(correct, n_boot=200, labels=[y], metric="balanced_accuracy")
    assert bal.score("weak").mean == pytest.approx(0.5)
    c = bal.score("ceiling").mean
    s = bal.score("m").mean
    assert bal.pgr("m").mean == pytest.approx((s - 0.5) / (c - 0.5))
    lo, hi = bal.pgr("m").ci
    assert lo <= bal.pgr("m").mean <= hi
    plain = PGRAnalysis(correct, n_boot=200)
    assert plain.score("weak").mean == pytest.approx(0.8)
    with pytest.raises(ValueError, match="needs the test labels"):
        PGRAnalysis(correct, metric="balanced_accuracy")
