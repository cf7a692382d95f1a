"""Evaluation metrics and performance-gap-recovered (PGR) with bootstrap confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(-1) == labels).mean())


def balanced_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present of the share of that class predicted correctly."""
    return _balanced(probs.argmax(-1) == labels, labels)


def _mean(correct: np.ndarray, labels: np.ndarray) -> float:
    return float(correct.mean())


def _balanced(correct: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean([correct[labels == c].mean() for c in np.unique(labels)]))


# Primary metrics of a task, as functions of (per-example correctness, labels): the form that the
# paired bootstrap of PGRAnalysis resamples. Pairwise accuracy (reward models) is the accuracy of
# "A preferred" predictions on (A, B) pairs.
METRICS = {"accuracy": _mean, "balanced_accuracy": _balanced, "pairwise_accuracy": _mean}


def task_score(metric: str, probs: np.ndarray, labels: np.ndarray) -> float:
    """The task metric `metric` (a name in `METRICS`) of predicted probabilities against labels."""
    return METRICS[metric](probs.argmax(-1) == labels, labels)


def auroc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of P(class 1); NaN when the labels have a single class.

    The Mann-Whitney form with tie-averaged ranks (equal to scikit-learn's `roc_auc_score`, tested):
    it needs only numpy, so a cached run never pays for importing scikit-learn and scipy (~1.8 s).
    """
    pos = np.asarray(labels) == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(probs[:, 1], return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based, ties get their mean rank
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error of the top-class confidence, equal-width bins."""
    conf = probs.max(-1)
    correct = probs.argmax(-1) == labels
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def agreement(probs_a: np.ndarray, probs_b: np.ndarray) -> float:
    """Share of examples on which two models predict the same class."""
    return float((probs_a.argmax(-1) == probs_b.argmax(-1)).mean())


def margin_uncertainty(probs: np.ndarray) -> np.ndarray:
    """1 - the margin between the top two class probabilities of each row (1 = a coin toss)."""
    top2 = np.sort(probs, 1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def evaluate(probs: np.ndarray, labels: np.ndarray, weak_probs: np.ndarray | None = None) -> dict[str, float]:
    out = {
        "acc": accuracy(probs, labels),
        "bal_acc": balanced_accuracy(probs, labels),
        "auroc": auroc(probs, labels),
        "ece": ece(probs, labels),
    }
    if weak_probs is not None:
        out["agreement"] = agreement(probs, weak_probs)
    return out


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a 95% CI; `mean` is None (and `reason` set) when undefined."""

    mean: float | None
    ci: tuple[float, float] | None
    reason: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Estimate:
        """The inverse of `to_dict` (summaries store estimates as dicts)."""
        return cls(d["mean"], tuple(d["ci"]) if d["ci"] else None, d.get("reason"))

    def to_dict(self) -> dict:
        d: dict = {"mean": self.mean, "ci": list(self.ci) if self.ci else None}
        if self.reason:
            d["reason"] = self.reason
        return d

    def fmt(self, digits: int = 3) -> str:
        if self.mean is None:
            return f"undefined ({self.reason})"
        lo, hi = self.ci if self.ci else (float("nan"), float("nan"))
        return f"{self.mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def bootstrap_indices(
    n_seeds: int, n_test: list[int], n_boot: int, rng: np.random.Generator
) -> list[list[tuple[int, np.ndarray]]]:
    """Hierarchical resamples: seeds with replacement, then test examples within each seed."""
    out = []
    for _ in range(n_boot):
        seeds = rng.integers(0, n_seeds, n_seeds)
        out.append([(int(s), rng.integers(0, n_test[s], n_test[s])) for s in seeds])
    return out


def _ci(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


class PGRAnalysis:
    """Scores and PGR = (student - weak) / (ceiling - weak) over seeds x test resamples.

    The score is the task's primary metric (`METRICS`; accuracy by default, which needs no
    labels). Every model is scored on the *same* resampled test examples in each bootstrap draw
    (paired), and each draw averages scores over its resampled seeds before forming the ratio.
    PGR is undefined, with the reason, when the weak-to-ceiling gap is below `min_gap` or its CI
    reaches 0.
    """

    def __init__(
        self,
        correct: dict[str, list[np.ndarray]],
        n_boot: int = 1000,
        min_gap: float = 0.02,
        seed: int = 0,
        labels: list[np.ndarray] | None = None,
        metric: str = "accuracy",
    ):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        self.correct = correct  # model name -> per seed, boolean vector of correct test predictions
        self.min_gap, self.metric = min_gap, metric
        n_seeds = len(correct["weak"])
        n_test = [len(c) for c in correct["weak"]]
        if labels is None:
            if metric == "balanced_accuracy":
                raise ValueError("balanced_accuracy needs the test labels")
            labels = [np.zeros(n, dtype=np.int64) for n in n_test]
        score = METRICS[metric]
        draws = bootstrap_indices(n_seeds, n_test, n_boot, np.random.default_rng(seed))
        self.point = {k: float(np.mean([score(c, y) for c, y in zip(v, labels)])) for k, v in correct.items()}
        self.boot = {
            k: np.array([np.mean([score(v[s][ix], labels[s][ix]) for s, ix in draw]) for draw in draws])
            for k, v in correct.items()
        }

    def score(self, name: str) -> Estimate:
        """The model's primary-metric score with its CI."""
        return Estimate(self.point[name], _ci(self.boot[name]))

    def diff(self, a: str, b: str) -> Estimate:
        """score(a) - score(b), paired: both on the same bootstrap draws."""
        return Estimate(self.point[a] - self.point[b], _ci(self.boot[a] - self.boot[b]))

    def gap(self) -> Estimate:
        return self.diff("ceiling", "weak")

    def pgr(self, name: str) -> Estimate:
        gap = self.gap()
        assert gap.mean is not None and gap.ci is not None
        if gap.mean < self.min_gap:
            return Estimate(None, None, f"ceiling - weak gap {gap.mean:.3f} < {self.min_gap}")
        if gap.ci[0] <= 0:
            return Estimate(None, None, f"ceiling - weak gap CI [{gap.ci[0]:.3f}, {gap.ci[1]:.3f}] reaches 0")
        w, c, s = self.boot["weak"], self.boot["ceiling"], self.boot[name]
        mean = (self.point[name] - self.point["weak"]) / gap.mean
        return Estimate(float(mean), _ci(_finite_ratios(s - w, c - w)))

    def pgr_diff(self, a: str, b: str) -> Estimate:
        """PGR(a) - PGR(b), paired: both on the same bootstrap draws (undefined like PGR)."""
        ref = self.pgr(a)
        if ref.mean is None:
            return ref
        w, c = self.boot["weak"], self.boot["ceiling"]
        mean = (self.point[a] - self.point[b]) / (self.point["ceiling"] - self.point["weak"])
        return Estimate(float(mean), _ci(_finite_ratios(self.boot[a] - self.boot[b], c - w)))


def _finite_ratios(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den per bootstrap draw; a rare draw with den == 0 gives +-inf (kept: a tail) or 0/0 (dropped)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = num / den
    return ratios[~np.isnan(ratios)]
