"""W2S methods: how a strong student is trained from weak labels, registered by name.

A method is a function ``fn(ctx, params) -> test probabilities``. There are two kinds:

- every registered loss (`superalign.losses`) is a method: train the strong model with that loss
  on the weak soft labels of ``train_w2s``;
- label interventions change *what* the student trains on (a subset, relabelled or combined weak
  labels, its own predictions) and then train with a loss of their choice (``loss``, default xent).

Methods and hyper-parameters are addressed by name from Python, YAML (``method_params.<name>.<param>``)
and the CLI (``--methods a,b,c`` or ``--methods all``). A method only ever sees a `MethodContext`:
texts and weak labels of train_w2s, test texts, the strong model, and the labels of any extra weak
supervisors it asked for (fit by the runner on ``train_gt``) -- never the ground truth of train_w2s.

This module imports no torch, so a fully cached run stays fast; losses load when a stage computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..data import most_certain, one_hot
from ..errors import ConfigError, DataError
from ..models import Classifier
from ..registry import Registry, first_sentence, unknown_name


@dataclass(frozen=True)
class Supervisor:
    """An extra weak supervisor a method asks for: ladder model `model` fit on the ground truth of
    ``train_gt`` (on a bootstrap resample of it when `bag`; as an AdaBoost ensemble of up to
    `boost` members when `boost` > 1, cycling through `model` and the rungs of `cycle`), replica
    `index`. The runner fits it as a cached stage and hands its soft labels of train_w2s to the
    method."""

    model: str
    index: int = 0
    bag: bool = False
    boost: int = 0
    cycle: tuple[str, ...] = ()
    cluster: tuple[int, ...] = ()  # (k, i): fit on topic cluster i of k of train_gt only (a specialist)

    @property
    def name(self) -> str:
        """A readable identity, e.g. ``tfidf``, ``static bag 2``, ``boosted static+tfidf x5``, ``static topic 1/4``."""
        if self.boost > 1:
            return f"boosted {'+'.join((self.model, *self.cycle))} x{self.boost}"
        if self.cluster:
            return f"{self.model} topic {self.cluster[1] + 1}/{self.cluster[0]}"
        return f"{self.model} bag {self.index}" if self.bag else self.model


@dataclass
class MethodContext:
    """Everything a method may see. Ground truth of train_w2s is not here, by construction."""

    texts: list[str]  # train_w2s inputs
    weak_labels: np.ndarray  # (n, k) soft labels of `texts` from the weak model (or the chain's last rung)
    test_texts: list[str]
    new_student: Callable[[], Classifier]  # a fresh, untrained strong classifier (the run's seed)
    features: Callable[[Sequence[str]], np.ndarray]  # the strong model's frozen features (kNN space)
    supervisor_labels: list[np.ndarray] = field(default_factory=list)  # one per requested Supervisor
    val: tuple[list, np.ndarray] | None = None  # val texts with *weak* soft labels, for early stopping
    label_names: tuple[str, str] = ("no", "yes")  # the task's class names (for prompts), never a label

    def train(
        self, texts: Sequence[str], targets: np.ndarray, loss: str = "xent", loss_params: dict | None = None
    ) -> Classifier:
        """A fresh strong classifier fit on (texts, soft targets) with a registered loss."""
        from ..losses import get_loss

        model = self.new_student()
        model.fit(
            list(texts),
            np.asarray(targets, dtype=np.float32),
            get_loss(loss, **(loss_params or {})),
            loss_name=loss,
            val=self.val,
        )
        return model


class InterventionParams(BaseModel):
    """Hyper-parameters every label intervention has: the loss its student trains with."""

    model_config = ConfigDict(extra="forbid")
    loss: str = Field("xent", description="registered loss the student trains with")
    loss_params: dict[str, Any] = Field(default_factory=dict, description="that loss's hyper-parameters")


@dataclass(frozen=True)
class Method:
    name: str
    run: Callable[[MethodContext, Any], np.ndarray]  # (ctx, parsed params) -> test probabilities
    params: type[InterventionParams] | None  # None: a loss method, whose params are the loss's
    summary: str = ""
    supervisors: Callable[[Any, str], list[Supervisor]] = lambda p, weak: []
    uses_features: bool = False  # needs the strong model's frozen features (`ctx.features`)
    uses_label_names: bool = False  # reads `ctx.label_names` (they then enter its stage key)

    @property
    def __wrapped__(self) -> Callable[[MethodContext, Any], np.ndarray]:
        """The intervention's function: what `inspect.unwrap` (the registry's origin, `code_identity`) reads."""
        return self.run

    def parse(self, params: dict[str, Any]) -> Any:
        """Typed, validated params (torch-free; see `check` for the loss itself)."""
        if self.params is None:
            return dict(params)
        try:
            return self.params.model_validate(params)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "params"
            raise ConfigError(f"method {self.name!r}: {where}: {err['msg']}") from None

    def check(self, params: dict[str, Any]) -> None:
        """Validate params completely, including the loss a method trains with (imports torch)."""
        from ..losses import get_loss

        p = self.parse(params)
        if self.params is None:
            get_loss(self.name, **p)
        else:
            get_loss(p.loss, **p.loss_params)

    def __call__(self, ctx: MethodContext, params: dict[str, Any]) -> np.ndarray:
        return self.run(ctx, self.parse(params))


METHODS: Registry[Method] = Registry("method")  # label interventions; losses are methods implicitly


def register_method(
    name: str,
    params: type[InterventionParams],
    supervisors: Callable[[Any, str], list[Supervisor]] | None = None,
    uses_features: bool = False,
    uses_label_names: bool = False,
):
    """Decorator: register a label intervention ``fn(ctx, params) -> test probabilities``.
    `supervisors(params, weak_model)` lists the extra weak supervisors it needs (fit by the runner)."""

    def deco(fn: Callable[[MethodContext, Any], np.ndarray]) -> Callable[[MethodContext, Any], np.ndarray]:
        METHODS.add(
            name,
            Method(
                name,
                fn,
                params,
                first_sentence(fn.__doc__),
                supervisors or (lambda p, weak: []),
                uses_features,
                uses_label_names,
            ),
        )
        return fn

    return deco


def _loss_method(name: str) -> Method:
    def run(ctx: MethodContext, params: dict[str, Any]) -> np.ndarray:
        return ctx.train(ctx.texts, ctx.weak_labels, name, params).predict_proba(ctx.test_texts)

    return Method(name, run, None)  # no torch import here: a fully cached run never needs it


def method_names() -> list[str]:
    """Every method: the registered losses, then the label interventions (imports torch)."""
    from ..losses import LOSSES

    return [*LOSSES, *(m for m in METHODS if m not in LOSSES)]


def get_method(name: str) -> Method:
    """The method `name`. Names that are not interventions are taken as losses; an unknown loss
    is reported by `Method.check` (run before any model is trained)."""
    return METHODS[name] if name in METHODS else _loss_method(name)


def check_method(name: str, params: dict[str, Any]) -> None:
    from ..losses import LOSSES

    if name not in METHODS and name not in LOSSES:
        raise unknown_name("method", name, method_names())
    if name in METHODS and name in LOSSES:
        raise ConfigError(f"{name!r} is both a loss and a label intervention; rename one")
    get_method(name).check(params)


# --- label interventions ---------------------------------------------------------------------


def _fit_subset(ctx: MethodContext, keep: np.ndarray, targets: np.ndarray, p: InterventionParams) -> np.ndarray:
    if keep.sum() < 2 or len(np.unique(targets[keep].argmax(1))) < 2:
        raise DataError(f"too few examples left to train on ({int(keep.sum())} kept, one class only or fewer than 2)")
    texts = [t for t, k in zip(ctx.texts, keep) if k]
    return ctx.train(texts, targets[keep], p.loss, p.loss_params).predict_proba(ctx.test_texts)


class ConfidentParams(InterventionParams):
    keep: float = Field(0.5, gt=0, le=1, description="share of train_w2s kept, per weak-predicted class")


@register_method("confident", ConfidentParams)
def confident(ctx: MethodContext, p: ConfidentParams) -> np.ndarray:
    """Keep only the most confident weak labels: the top `keep` share by max probability within
    each weak-predicted class, so the class balance is unchanged (confidence-thresholded
    pseudo-labels, as in self-training, e.g. FixMatch, Sohn et al. 2020)."""
    return _fit_subset(ctx, most_certain(ctx.weak_labels, p.keep), ctx.weak_labels, p)


def knn_vote(features: np.ndarray, labels: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Mean soft label of each example's `k` nearest neighbours by cosine similarity, itself
    excluded (the "zeta" label of EleutherAI w2s, `w2s/knn.py`)."""
    n = len(features)
    if not 1 <= k < n:
        raise ConfigError(f"kNN: k must be in [1, {n - 1}] for {n} examples, got {k}")
    x = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    out = np.empty_like(labels, dtype=np.float32)
    for i in range(0, n, chunk):
        sims = x[i : i + chunk] @ x.T
        rows = np.arange(len(sims))
        sims[rows, i + rows] = -np.inf
        nn = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out[i : i + chunk] = labels[nn].mean(1)
    return out


class KnnParams(InterventionParams):
    k: int = Field(20, ge=1, description="neighbours in the strong model's feature space")


@register_method("knn_relabel", KnnParams, uses_features=True)
def knn_relabel(ctx: MethodContext, p: KnnParams) -> np.ndarray:
    """Replace a weak label by the mean label of its k nearest neighbours in the strong model's
    feature space wherever their argmax disagree (EleutherAI w2s "zeta_disagree" relabelling)."""
    vote = knn_vote(ctx.features(ctx.texts), ctx.weak_labels, p.k)
    disagree = vote.argmax(1) != ctx.weak_labels.argmax(1)
    targets = np.where(disagree[:, None], vote, ctx.weak_labels)
    return ctx.train(ctx.texts, targets, p.loss, p.loss_params).predict_proba(ctx.test_texts)


class KnnFilterParams(KnnParams):
    drop: float | None = Field(
        None, ge=0, lt=1, description="drop this share farthest from the kNN vote; None: drop every disagreement"
    )


@register_method("knn_filter", KnnFilterParams, uses_features=True)
def knn_filter(ctx: MethodContext, p: KnnFilterParams) -> np.ndarray:
    """Drop examples whose weak label disagrees with the kNN vote in the strong model's feature
    space (EleutherAI w2s zeta filter); with `drop`, drop that share with the largest distance."""
    vote = knn_vote(ctx.features(ctx.texts), ctx.weak_labels, p.k)
    if p.drop is None:
        keep = vote.argmax(1) == ctx.weak_labels.argmax(1)
    else:
        dist = np.abs(vote - ctx.weak_labels).sum(1)
        keep = np.zeros(len(dist), dtype=bool)
        keep[np.argsort(dist, kind="stable")[: len(dist) - round(p.drop * len(dist))]] = True
    return _fit_subset(ctx, keep, ctx.weak_labels, p)


class WeakEnsembleParams(InterventionParams):
    models: list[str] = Field(
        default_factory=list, description="ladder rungs of the supervisors; empty: the experiment's weak model"
    )
    k: int = Field(
        3, ge=1, description="supervisors per model, each fit on a bootstrap resample of train_gt (k=1: all of it)"
    )
    combine: Literal["mean", "vote"] = "mean"


def _ensemble_supervisors(p: WeakEnsembleParams, weak: str) -> list[Supervisor]:
    return [Supervisor(m, i, bag=p.k > 1) for m in (p.models or [weak]) for i in range(p.k)]


@register_method("weak_ensemble", WeakEnsembleParams, supervisors=_ensemble_supervisors)
def weak_ensemble(ctx: MethodContext, p: WeakEnsembleParams) -> np.ndarray:
    """Several weak supervisors (different rungs, or bagged replicas of the weak model) label
    train_w2s; the student trains on their mean soft label or their majority vote (ties broken
    by the mean). Bagging (Breiman 1996) of weak supervisors; multiple weak teachers in W2S:
    Liu & Alahi 2024, "Co-supervised learning"."""
    labels = np.stack(ctx.supervisor_labels)  # (m, n, k)
    mean = labels.mean(0)
    if p.combine == "vote":
        k = mean.shape[1]
        votes = one_hot(labels.argmax(2), k).sum(0) + 1e-3 * mean  # mean probability breaks ties
        mean = one_hot(votes.argmax(1), k)
    return ctx.train(ctx.texts, mean, p.loss, p.loss_params).predict_proba(ctx.test_texts)


class S2SParams(InterventionParams):
    rounds: int = Field(2, ge=1, description="retrainings after the first student")
    hard: bool = Field(False, description="train on the previous student's argmax labels instead of its probabilities")


@register_method("s2s", S2SParams)
def s2s(ctx: MethodContext, p: S2SParams) -> np.ndarray:
    """Strong-to-strong self-training: a student trained on the weak labels relabels train_w2s,
    a fresh student trains on those labels, `rounds` times (self-distillation, Furlanello et al.
    2018 "Born-again networks"; iterated W2S training)."""
    targets = ctx.weak_labels
    for _ in range(p.rounds):
        model = ctx.train(ctx.texts, targets, p.loss, p.loss_params)
        targets = model.predict_proba(ctx.texts)
        if p.hard:
            targets = one_hot(targets.argmax(1), targets.shape[1])
    return ctx.train(ctx.texts, targets, p.loss, p.loss_params).predict_proba(ctx.test_texts)
