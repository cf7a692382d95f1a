"""Several weak supervisors of different kinds, weighted by how reliable each looks.

Beyond `weak_ensemble` (an unweighted mean of bagged copies of one model): the members here are
the run's weak model (its labels, as every method gets them), other cheap rungs fit on the
ground truth of ``train_gt`` (default tfidf and static) and bagged replicas of the weak model.

- `reliable_ensemble`: each member's reliability is estimated *without any label* from how its
  votes on train_w2s agree with the others' (Dawid & Skene 1979: one confusion matrix per
  member, fit by EM), and the members are combined by the resulting posterior, or by their
  probabilities weighted by the log-odds of each member's estimated accuracy (the optimal
  weighted vote of independent voters, Nitzan & Paroush 1982). Ensembles of weak supervisors
  for W2S: "EnsemW2S", Agrawal et al. 2024; Cui et al. 2025.
- `boosted_ensemble`: the weak model and other rungs (default tfidf), in turn, boosted on
  ``train_gt`` (SAMME by resampling, `boosting.py`), their weighted vote labelling train_w2s
  (EnsemW2S, Agrawal et al. 2024).
- `co_supervision`: the specialist teacher of each example is the one its strong student agrees
  with, the student retrains on its assigned teachers' labels, and examples where even the
  assigned teacher contradicts the student are dropped (Liu & Alahi 2024, "Co-supervised
  learning: improving weak-to-strong generalization with hierarchical mixture of experts":
  teacher assignment and noise reduction, alternated with student training).

Formulas from the papers; code written fresh. No member ever sees train_w2s or val labels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..data import one_hot
from .methods import InterventionParams, MethodContext, Supervisor, register_method


class MembersParams(InterventionParams):
    models: list[str] = Field(
        default_factory=lambda: ["tfidf", "static"],
        description="other ladder rungs fit on train_gt, besides the weak model (the weak model's own name is skipped)",
    )
    bags: int = Field(1, ge=0, le=16, description="bagged replicas of the weak model (bootstrap resamples of train_gt)")


def _members(p: MembersParams, weak: str) -> list[Supervisor]:
    others = [Supervisor(m) for m in dict.fromkeys(p.models) if m != weak]
    return [*others, *(Supervisor(weak, 1 + i, bag=True) for i in range(p.bags))]


def _stack(ctx: MethodContext) -> np.ndarray:
    """(m, n, k) soft labels of train_w2s: the weak model's, then each extra supervisor's."""
    return np.stack([ctx.weak_labels, *ctx.supervisor_labels]).astype(np.float64)


def dawid_skene(labels: np.ndarray, iters: int = 50, smoothing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Dawid & Skene (1979) EM on the members' votes (argmax of `labels`, (m, n, k)).

    Returns the posterior over the true class (n, k) and each member's confusion matrices
    (m, k, k), row c = P(member votes . | true class c). Starts from the mean soft label; Laplace
    `smoothing` keeps every confusion entry positive. No ground truth is used."""
    m, n, k = labels.shape
    votes = one_hot(labels.argmax(2).reshape(-1), k).reshape(m, n, k).astype(np.float64)
    post = labels.mean(0)
    for _ in range(iters):
        prior = post.mean(0) + 1e-9
        conf = np.einsum("ic,jiv->jcv", post, votes) + smoothing  # (m, k, k)
        conf /= conf.sum(2, keepdims=True)
        log_post = np.log(prior)[None, :] + np.einsum("jiv,jcv->ic", votes, np.log(conf))
        log_post -= log_post.max(1, keepdims=True)
        new = np.exp(log_post)
        new /= new.sum(1, keepdims=True)
        if np.abs(new - post).max() < 1e-6:
            post = new
            break
        post = new
    return post, conf


def member_accuracy(post: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Each member's estimated accuracy under the posterior's class prior: sum_c prior_c conf[c, c]."""
    prior = post.mean(0)
    return np.einsum("c,jcc->j", prior, conf)


class ReliableEnsembleParams(MembersParams):
    combine: Literal["posterior", "logodds"] = Field(
        "posterior", description="Dawid-Skene posterior, or probabilities weighted by log-odds of estimated accuracy"
    )


@register_method("reliable_ensemble", ReliableEnsembleParams, supervisors=_members)
def reliable_ensemble(ctx: MethodContext, p: ReliableEnsembleParams) -> np.ndarray:
    """Weak supervisors of different kinds (the weak model, tfidf, static, bagged copies), each
    weighted by its label-free reliability estimate (Dawid & Skene 1979 EM on their votes; weak
    ensembles for W2S: Agrawal et al. 2024 "EnsemW2S", Cui et al. 2025)."""
    labels = _stack(ctx)
    post, conf = dawid_skene(labels)
    if p.combine == "logodds":
        acc = np.clip(member_accuracy(post, conf), 0.5 + 1e-3, 1 - 1e-3)  # below chance: weight 0, not negative
        w = np.log(acc / (1 - acc))
        logit = np.log(np.clip(labels, 1e-6, 1.0))
        z = np.einsum("j,jic->ic", w / w.sum(), logit)
        post = np.exp(z - z.max(1, keepdims=True))
        post /= post.sum(1, keepdims=True)
    return ctx.train(ctx.texts, post.astype(np.float32), p.loss, p.loss_params).predict_proba(ctx.test_texts)


class CoSupervisionParams(MembersParams):
    rounds: int = Field(2, ge=1, le=10, description="rounds of teacher assignment and student retraining")
    denoise: bool = Field(True, description="drop examples whose assigned teacher still contradicts the student")


def assign_teachers(labels: np.ndarray, student: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per example, the teacher giving the student's predicted class the highest probability
    (`labels` (m, n, k), `student` (n, k)); returns (teacher index (n,), agrees-with-student (n,))."""
    pred = student.argmax(1)
    on_pred = labels[:, np.arange(len(pred)), pred]  # (m, n)
    teacher = on_pred.argmax(0)
    chosen = labels[teacher, np.arange(len(pred))]
    return teacher, chosen.argmax(1) == pred


def co_supervise(ctx: MethodContext, p: CoSupervisionParams, teachers: np.ndarray, model):
    """`p.rounds` of teacher assignment (each example to the teacher in `teachers` (m, n, k) the
    current student agrees with most), noise reduction and retraining, from student `model`."""
    for _ in range(p.rounds):
        teacher, agree = assign_teachers(teachers, model.predict_proba(ctx.texts))
        targets = teachers[teacher, np.arange(len(teacher))]
        keep = agree if p.denoise else np.ones(len(agree), dtype=bool)
        if keep.sum() < 2 or len(np.unique(targets[keep].argmax(1))) < 2:
            keep = np.ones(len(agree), dtype=bool)  # nothing left to denoise with: keep every example
        texts = [t for t, k in zip(ctx.texts, keep) if k]
        model = ctx.train(texts, targets[keep], p.loss, p.loss_params)
    return model


@register_method("co_supervision", CoSupervisionParams, supervisors=_members)
def co_supervision(ctx: MethodContext, p: CoSupervisionParams) -> np.ndarray:
    """Several weak teachers; each example is taught by the teacher its strong student agrees with
    most, examples where that teacher still disagrees are dropped, and the student retrains,
    `rounds` times (Liu & Alahi 2024, "Co-supervised learning", teacher assignment + noise reduction)."""
    labels = _stack(ctx).astype(np.float32)
    model = ctx.train(ctx.texts, labels.mean(0), p.loss, p.loss_params)
    return co_supervise(ctx, p, labels, model).predict_proba(ctx.test_texts)


class BoostedEnsembleParams(InterventionParams):
    rounds: int = Field(5, ge=2, le=32, description="boosting rounds (members) at most")
    models: list[str] = Field(
        default_factory=lambda: ["tfidf"],
        description="rungs the members cycle through after the weak model; empty: copies of the weak model only",
    )


def _boosted(p: BoostedEnsembleParams, weak: str) -> list[Supervisor]:
    return [Supervisor(weak, boost=p.rounds, cycle=tuple(m for m in p.models if m != weak))]


@register_method("boosted_ensemble", BoostedEnsembleParams, supervisors=_boosted)
def boosted_ensemble(ctx: MethodContext, p: BoostedEnsembleParams) -> np.ndarray:
    """An AdaBoost (SAMME) ensemble of weak models (the weak model and the rungs of `models`, in
    turn), each fit on train_gt reweighted toward its predecessors' mistakes, labels train_w2s by
    its weighted vote (EnsemW2S, Agrawal et al. 2024; `boosting.py`); the student trains on those
    soft labels."""
    return ctx.train(ctx.texts, ctx.supervisor_labels[0], p.loss, p.loss_params).predict_proba(ctx.test_texts)
