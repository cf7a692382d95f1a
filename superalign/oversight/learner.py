"""The learner: the strong model, refit on accumulated critic feedback plus human gold labels.

Feedback is kept in a `FeedbackLedger`, one entry per distinct text:
  critic  target = the critic's soft label, weight = a function of its confidence;
  human   target = the gold label (one-hot), weight = `human_weight`, trained as ground truth;
  edit    a meaning-preserving edit of a pool item (adversarial training with label-preserving
          perturbations). Its target is the learner's own label of the unedited source when the
          edit was found, weighted by the learner's confidence in it (consistency training: the
          edit should not change the verdict; Miyato et al. 2018 VAT; Xie et al. 2020 UDA), or,
          for an edit recorded without one, whatever the source's entry is at training time.
          A human label of the source always wins, so it also corrects the source's edits.
A human label always wins over a critic label for the same text. The learner trains a fresh
classifier on the whole ledger with a registered W2S loss (default ``logconf``; Burns et al. 2023).
With ``canonicalize`` it also learns, from the (edit, source) pairs, which phrase substitutions
the attacker uses and reads every text with each learnt class of phrases written one way
(`EditCanonicalizer`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..data import one_hot
from ..losses import get_loss
from ..models import Classifier
from .canon import EditCanonicalizer
from .types import Feedback, OversightError, Verdict

Weighting = Literal["confidence", "margin", "none"]


def critic_weight(v: Verdict, weighting: Weighting) -> float:
    """Sample weight of a critic label: its confidence, its margin over the runner-up, or 1."""
    if weighting == "none":
        return 1.0
    if weighting == "confidence":
        return float(v.confidence)
    p = sorted(v.probs)
    return float(p[-1] - p[-2]) + 1e-3


@dataclass
class _Entry:
    kind: str  # "critic" | "human" | "edit"
    target: np.ndarray | None
    weight: float
    ref: str | None = None  # edit: the source text (its human label, if any, wins)


class FeedbackLedger:
    """Distinct texts with their current training signal (see the module docstring)."""

    def __init__(self, k: int, weighting: Weighting = "confidence", human_weight: float = 1.0):
        self.k, self.weighting, self.human_weight = k, weighting, human_weight
        self.entries: dict[str, _Entry] = {}

    def add_critic(self, text: str, verdict: Verdict) -> None:
        if verdict.status != "ok" or self.entries.get(text, _Entry("", None, 0)).kind == "human":
            return
        self.entries[text] = _Entry(
            "critic", np.asarray(verdict.probs, dtype=np.float32), critic_weight(verdict, self.weighting)
        )

    def add_edit(self, text: str, source_text: str, label: int | None = None, weight: float = 1.0) -> None:
        """An edit of `source_text`; `label`/`weight`: the learner's verdict on the source and its
        confidence (consistency target), or None to train on the source's own entry."""
        if text == source_text or self.entries.get(text, _Entry("", None, 0)).kind == "human":
            return
        target = None if label is None else one_hot(label, self.k)
        self.entries[text] = _Entry("edit", target, float(weight), ref=source_text)

    def add_human(self, text: str, label: int) -> None:
        self.entries[text] = _Entry("human", one_hot(label, self.k), self.human_weight)

    def texts(self, kind: str) -> list[str]:
        """The texts whose entry is of `kind` ("critic", "human" or "edit")."""
        return [t for t, e in self.entries.items() if e.kind == kind]

    def counts(self) -> dict[str, int]:
        out = {"critic": 0, "human": 0, "edit": 0}
        for e in self.entries.values():
            out[e.kind] += 1
        return out

    def feedback(self) -> Feedback:
        texts, targets, weights, gold = [], [], [], []
        for text, e in self.entries.items():
            src = self.entries.get(e.ref or "") if e.kind == "edit" else None
            if src is not None and src.kind == "human":
                target, is_gold, weight = src.target, True, src.weight
            elif e.kind == "edit" and e.target is None:
                if src is None or src.target is None:
                    continue  # the source has no usable label (e.g. an unparseable verdict)
                target, is_gold, weight = src.target, False, src.weight
            else:
                target, is_gold, weight = e.target, e.kind == "human", e.weight
            texts.append(text)
            targets.append(target)
            weights.append(weight)
            gold.append(is_gold)
        if not texts:
            raise OversightError("no usable feedback: every critic verdict was unparseable")
        edits = [(t, e.ref) for t, e in self.entries.items() if e.kind == "edit" and e.ref is not None]
        return Feedback(
            texts,
            np.stack(targets).astype(np.float32),
            np.asarray(weights, dtype=np.float64),
            np.asarray(gold, dtype=bool),
            edits,
        )


def _accepts(fn: Callable, *names: str) -> bool:
    params = inspect.signature(fn).parameters
    return all(n in params for n in names) or any(p.kind is p.VAR_KEYWORD for p in params.values())


class ClassifierLearner:
    """A `Learner` around any `Classifier`: each update fits a fresh one on all the feedback.

    Sample weights and gold rows are passed to classifiers whose ``fit`` accepts
    ``sample_weight`` and ``gold_mask`` (`ProbeClassifier`, `FinetuneClassifier`). Any other
    classifier can learn only uniform feedback: an update with unequal weights or gold rows
    raises an `OversightError` rather than silently training unweighted.
    ``canonicalize``: read every text (training and prediction) through an `EditCanonicalizer`
    fit on the feedback's edit pairs at each update.
    """

    def __init__(
        self,
        factory: Callable[[int], Classifier],
        key: str,
        loss: str = "logconf",
        loss_params: dict[str, Any] | None = None,
        seed: int = 0,
        canonicalize: bool = False,
    ):
        self.factory, self.key, self.seed, self.canonicalize = factory, key, seed, canonicalize
        self.loss_name, self.loss_params = loss, dict(loss_params or {})
        self._loss = get_loss(loss, **self.loss_params)
        self._clf: Classifier | None = None
        self._read: Callable[[Sequence[str]], list[str]] = list
        self.updates = 0

    def update(self, feedback: Feedback) -> None:
        clf = self.factory(self.seed)
        kwargs: dict[str, Any] = {}
        if _accepts(getattr(clf, "inner", clf).fit, "sample_weight", "gold_mask"):  # through a `SpelledClassifier`
            kwargs = {"sample_weight": feedback.weights, "gold_mask": feedback.gold}
        elif feedback.gold.any() or np.ptp(feedback.weights) > 0:
            raise OversightError(
                f"the learner {type(clf).__name__} takes no sample_weight/gold_mask, but the feedback has unequal "
                "weights or human gold rows: use a probe or fine-tuned learner (or weighting: none and no humans)"
            )
        read = EditCanonicalizer().fit(feedback.edits, feedback.texts) if self.canonicalize else list
        clf.fit(read(feedback.texts), feedback.targets, self._loss, loss_name=self.loss_name, **kwargs)
        self._clf, self._read = clf, read
        self.updates += 1

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._clf is None:
            raise OversightError("the learner has not been trained yet")
        return self._clf.predict_proba(self._read(texts))
