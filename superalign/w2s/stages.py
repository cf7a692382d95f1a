"""The cached stages of one W2S seed: what each stage's model sees, as its content key, and
how it is fit.

Every fitted model is a store stage keyed by the content hash of exactly what it sees
(`StageKeys`, the one place those keys are built), so a rerun, a second method or a sweep that
shares a stage never computes it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..data import Splits, fingerprint, one_hot
from ..errors import ConfigError
from ..models import Classifier, ModelFactory, classifier_builder, encoder_for
from ..store import Store
from .config import ExperimentConfig
from .methods import Supervisor, check_method, get_method


class StageKeys:
    """Content keys of one seed's stages; each holds everything its model is fit on or predicts.

    The strong model's stages share ``(settings, seed, test texts)``; ``val`` enters a strong
    stage only when the model consumes it (fine-tuning's early stopping), with the labels the
    stage's supervisor gives it.
    """

    def __init__(self, splits: Splits, seed: int, strong: ModelFactory):
        self.splits, self.seed, self.strong = splits, seed, strong
        self.common = (strong.settings, seed, splits.test.texts)

    def _seen_val(self, labels: np.ndarray) -> tuple:
        return (self.splits.val.texts, labels) if self.strong.uses_val else ()

    def weak(self, weak: ModelFactory) -> str:
        s = self.splits
        return fingerprint(
            "weak",
            weak.key,
            weak.settings,
            self.seed,
            s.test.texts,
            s.train_gt.texts,
            s.train_gt.labels,
            s.train_w2s.texts,
            s.val.texts,
        )

    def ceiling(self) -> str:
        w2s = self.splits.train_w2s
        return fingerprint(
            "ceiling", self.strong.key, self.common, w2s.texts, w2s.labels, *self._seen_val(self.splits.val.labels)
        )

    def rung(self, rung: ModelFactory, labels: np.ndarray) -> str:
        return fingerprint("rung", rung.key, self.common, self.splits.train_w2s.texts, labels)

    def student(
        self, method: str, params: dict, labels: np.ndarray, weak_val: np.ndarray, supervisors: list[np.ndarray]
    ) -> str:
        return fingerprint(
            "student",
            self.strong.key,
            method,
            params,
            self.common,
            self.splits.train_w2s.texts,
            labels,
            *self._seen_val(weak_val),
            *([supervisors] if supervisors else []),
        )

    def supervisor(self, f: ModelFactory, sub_seed: int, texts: list, labels: np.ndarray) -> str:
        return fingerprint("supervisor", f.key, f.settings, sub_seed, texts, labels, self.splits.train_w2s.texts)


def fit_predict(
    factory: ModelFactory,
    seed: int,
    texts,
    targets,
    loss_name: str,
    params: dict,
    predict: dict,
    val: tuple | None = None,
    workdir: Path | None = None,
) -> dict[str, np.ndarray]:
    """Fit a fresh classifier of `factory` and predict every named input set of `predict`."""
    from ..losses import get_loss  # imports torch: only when a stage is actually computed

    model = factory(seed, workdir)
    model.fit(texts, targets, get_loss(loss_name, **params), loss_name=loss_name, val=val if factory.uses_val else None)
    return {name: model.predict_proba(x) for name, x in predict.items()}


def check_methods(cfg: ExperimentConfig) -> None:
    """Fail fast on unknown methods, hyper-parameters or supervisor models, before any model is trained."""
    for name, params in cfg.method_params.items():
        check_method(name, params)
    for m in cfg.methods:
        params = cfg.method_params.get(m, {})
        check_method(m, params)
        method = get_method(m)
        if method.uses_features and classifier_builder(cfg.strong) is not None:
            raise ConfigError(f"method {m!r} needs the strong model's features; {cfg.strong!r} has no frozen encoder")
        for sup in method.supervisors(method.parse(params), cfg.weak):
            if (
                classifier_builder(sup.model) is None
            ):  # models without an encoder (tfidf, profanity_check) need no check
                encoder_for(sup.model)  # unknown models are a ModelError now, not after the weak stage


def student_factory(strong: ModelFactory, seed: int, workdir: Path) -> Callable[[], Classifier]:
    """Fresh strong classifiers for one method; each gets its own checkpoint folder (a method
    such as s2s trains several students in turn, and a folder's checkpoint is reused on refit)."""
    count = iter(range(1_000_000))
    return lambda: strong(seed, workdir / f"student{next(count)}")


def strong_features(factory: ModelFactory) -> Callable:
    """The strong model's frozen features (for kNN methods), or a ConfigError when it has none."""

    def encode(texts):
        if factory.encoder is None:
            raise ConfigError(f"this method needs the strong model's features; {factory.spec!r} has no frozen encoder")
        return factory.encoder.encode(texts)

    return encode


def supervisor_labels(
    sup: Supervisor, cfg: ExperimentConfig, keys: StageKeys, store: Store, factories: dict[str, ModelFactory]
) -> tuple[np.ndarray, str]:
    """Soft labels of train_w2s from an extra weak supervisor fit on (a resample of) train_gt: a cached stage."""
    if sup.model not in factories:
        factories[sup.model] = cfg.factory(sup.model)
    f, gt, w2s = factories[sup.model], keys.splits.train_gt, keys.splits.train_w2s
    sub_seed = keys.seed * 1000 + 1 + sup.index
    idx = np.random.default_rng(sub_seed).integers(0, len(gt), len(gt)) if sup.bag else np.arange(len(gt))
    texts, labels = [gt.texts[i] for i in idx], gt.labels[idx]
    key = keys.supervisor(f, sub_seed, texts, labels)
    out = store.stage(key, lambda: fit_predict(f, sub_seed, texts, one_hot(labels), "xent", {}, {"w2s": w2s.texts}))
    return out["w2s"], key
