"""Hyper-parameter selection with weak labels only: a grid per method, scored on ``val``.

A W2S researcher cannot tune on ground truth (there is none for the task a strong model is being
aligned on), so a method's hyper-parameters are chosen here by how its student agrees with the
*weak* labels of ``val`` -- never by the gold labels of ``val`` or ``train_w2s``. Each candidate
of the grid trains one student on the weak labels of ``train_w2s`` (a cached stage that predicts
``val`` and ``test`` at once); a registered criterion scores its ``val`` predictions against the
weak soft labels of ``val``; the best candidate's test predictions are the method's.

Criteria (``TuneConfig.criterion``):

- ``weak_acc``: accuracy against the weak model's argmax labels of val (plain weak-label
  validation: what a user without ground truth can compute; Burns et al. 2023 flag that
  selecting W2S hyper-parameters without ground truth is an open problem);
- ``confident_weak_acc``: the same on the ``confident`` share of val the weak model is most sure
  of, per weak-predicted class. The weak labels there are the most likely right, so agreeing
  with them rewards a student less for copying the weak model's errors;
- ``knn_weak_acc``: agreement with the weak labels smoothed by their k nearest neighbours in the
  strong model's frozen features (probe mode), on its most confident share.

Each criterion scores agreement by the task's metric: on a ``balanced_accuracy`` task (e.g.
``toxicity``) the mean per-class agreement, so copying the weak model's majority-class calls does
not win the choice.

The candidates' test scores appear in the run's summary (``tuning``), beside the chosen ones, so
the cost of selecting without gold is measured, not assumed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..data import most_certain
from ..metrics import task_score
from ..registry import Registry
from .methods import knn_vote


@dataclass
class ValView:
    """What a criterion may read of val: the weak model's soft labels, (computed on demand) their
    kNN vote in the strong model's frozen features, and the task's metric. No gold label."""

    weak: np.ndarray
    knn: Callable[[], np.ndarray]
    metric: str = "accuracy"


Criterion = Callable[[np.ndarray, ValView, "TuneConfig"], float]
CRITERIA: Registry[Criterion] = Registry("tuning criterion")


def _agreement(student: np.ndarray, val: ValView, reference: np.ndarray, share: float = 1.0) -> float:
    """The task's metric of `student` against the argmax of `reference` on the `share` of rows
    `reference` is most sure of, taken per reference class (so the class balance is the
    reference's). On a ``balanced_accuracy`` task plain agreement would reward a student for
    predicting the majority class wherever the weak model does; the mean per-class agreement
    does not."""
    keep = most_certain(reference, share)
    return task_score(val.metric, student[keep], reference.argmax(1)[keep])


@CRITERIA.register("weak_acc")
def weak_acc(student: np.ndarray, val: ValView, cfg: TuneConfig) -> float:
    """Accuracy of the student's val predictions against the weak argmax labels."""
    return _agreement(student, val, val.weak)


@CRITERIA.register("confident_weak_acc")
def confident_weak_acc(student: np.ndarray, val: ValView, cfg: TuneConfig) -> float:
    """Accuracy against the weak argmax labels on the `confident` share of val the weak model is
    most sure of, per weak-predicted class."""
    return _agreement(student, val, val.weak, cfg.confident)


@CRITERIA.register("knn_weak_acc")
def knn_weak_acc(student: np.ndarray, val: ValView, cfg: TuneConfig) -> float:
    """Accuracy against the kNN vote of the weak labels around each val example in the strong
    model's features (train_w2s and val, itself excluded): weak labels denoised by the strong
    model's own geometry (the zeta labels of EleutherAI w2s), so a student is not rewarded for
    copying errors the weak model makes on isolated examples."""
    return _agreement(student, val, val.knn(), cfg.confident)


def knn_reference(
    features: Callable[[list], np.ndarray],
    w2s_texts: list,
    w2s_labels: np.ndarray,
    val_texts: list,
    val_labels: np.ndarray,
    k: int,
) -> np.ndarray:
    """The kNN vote (in the strong model's features) of the weak labels of train_w2s and val, at each val example."""
    x = features([*w2s_texts, *val_texts])
    return knn_vote(x, np.concatenate([w2s_labels, val_labels]).astype(np.float32), k)[len(w2s_texts) :]


class TuneConfig(BaseModel):
    """Per-method grids, chosen by a weak-label criterion on val."""

    model_config = ConfigDict(extra="forbid")
    grid: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict,
        description="method -> parameter -> candidate values (e.g. grid.logconf.alpha_max=[0.25,0.5,0.75])",
    )
    criterion: str = Field(
        "auto",
        description="registered criterion scoring val predictions; auto: knn_weak_acc where the strong model has "
        "frozen features (probe mode), else confident_weak_acc",
    )
    confident: float = Field(0.5, gt=0, le=1, description="share of val kept by confident_weak_acc / knn_weak_acc")
    knn: int = Field(20, ge=1, description="neighbours of knn_weak_acc's vote")

    @field_validator("criterion")
    @classmethod
    def _criterion(cls, v: str) -> str:
        return v if v == "auto" else CRITERIA.check(v)

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[Any]]]:
        for method, params in v.items():
            if not params:
                raise ValueError(f"{method}: an empty grid")
            for name, values in params.items():
                if not isinstance(values, list) or not values:
                    raise ValueError(f"{method}.{name}: a non-empty list of candidate values, got {values!r}")
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.grid)

    def resolved(self, has_features: bool) -> str:
        """The criterion this run uses: ``auto`` resolved by whether the strong model has frozen features."""
        if self.criterion == "auto":
            return "knn_weak_acc" if has_features else "confident_weak_acc"
        return self.criterion


def candidates(grid: dict[str, list[Any]], base: dict[str, Any]) -> list[dict[str, Any]]:
    """Every point of `grid` (a product over its parameters, in the order given) laid over `base`."""
    names = list(grid)
    return [{**base, **dict(zip(names, values))} for values in itertools.product(*(grid[n] for n in names))]


def candidate_label(method: str, point: dict[str, Any], grid: dict[str, list[Any]]) -> str:
    """``method[a=1,b=2]``: the grid's parameters of one candidate."""
    return f"{method}[{','.join(f'{k}={point[k]}' for k in grid)}]"


def select(scores: list[float]) -> int:
    """Index of the best candidate; ties go to the earliest in the grid (the order the user wrote)."""
    return int(np.argmax(np.asarray(scores)))


def tune_method(
    method: str,
    grid: dict[str, list[Any]],
    params: dict[str, Any],
    fit: Callable[[dict[str, Any]], tuple[np.ndarray, str, list[str]]],
    val: ValView,
    cfg: TuneConfig,
) -> tuple[np.ndarray, str, list[str], dict[str, Any], dict[str, np.ndarray]]:
    """Fit every candidate of `grid` and keep the one the criterion scores best on val.

    `fit(point)` trains one student with those parameters and returns its probabilities of val
    followed by test, its stage key and the keys of the stages it used. `val` holds the weak
    model's soft labels of val (and their kNN vote): the only labels the choice reads; `cfg`'s
    criterion is resolved (`TuneConfig.resolved`). Returns the chosen candidate's
    test probabilities, stage key, every other stage key (their compute is the method's), the
    record (candidates, criterion, chosen) and each candidate's test probabilities."""
    n = len(val.weak)
    points = candidates(grid, params)
    fits = [fit(point) for point in points]
    criterion = CRITERIA[cfg.criterion]
    scores = [criterion(probs[:n], val, cfg) for probs, _, _ in fits]
    best = select(scores)
    names = [candidate_label(method, point, grid) for point in points]
    others = [k for i, (_, key, used) in enumerate(fits) for k in ([] if i == best else [key]) + used]
    record = {"candidates": names, "criterion": scores, "chosen": best, "criterion_name": cfg.criterion}
    return (
        fits[best][0][n:],
        fits[best][1],
        list(dict.fromkeys(others)),
        record,
        {name: probs[n:] for name, (probs, _, _) in zip(names, fits)},
    )
