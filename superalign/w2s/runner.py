"""The weak-to-strong experiment: weak supervisor -> weak labels -> strong students, vs a ceiling.

For each seed, on disjoint splits:
  weak     fit on ground truth of ``train_gt``; predicts ``train_w2s`` (soft weak labels) and ``test``
  ceiling  the strong model fit on ground truth of ``train_w2s``
  student  the strong model fit on the weak labels of ``train_w2s``, once per method
All are scored on ``test``. Students and the weak model are only ever handed texts and weak
labels; the ground truth of ``train_w2s`` reaches the ceiling alone (tests/test_leakage.py).
Each fitted model is a cached *stage* keyed by the content hash of exactly what it sees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import assets
from ..config import ExperimentConfig
from ..data import Splits, fingerprint, get_task, make_splits, task_metric
from ..metrics import PGRAnalysis, evaluate
from ..models import CachedEncoder, Classifier, ProbeClassifier, classifier_builder, encoder_for
from ..store import Store, atomic_write_json

log = logging.getLogger(__name__)


def one_hot(labels: np.ndarray, k: int = 2) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[labels]


class ModelFactory:
    """Builds fresh classifiers of one ladder rung, sharing one (lazily loaded) cached encoder."""

    def __init__(self, spec: str, cfg: ExperimentConfig):
        self.spec, self.cfg = spec, cfg
        self._build = classifier_builder(spec)  # models without a frozen encoder (tfidf, profanity_check)
        self.encoder = None if self._build is not None else CachedEncoder(encoder_for(spec), assets.home() / "features")
        self.key = self._build(0).key if self._build is not None else self.encoder.key

    def __call__(self, seed: int) -> Classifier:
        if self._build is not None:
            return self._build(seed)
        return ProbeClassifier(self.encoder, self.cfg.probe, seed=seed)


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    computed: list[str] = field(default_factory=list)  # stage keys computed (cache misses)


@dataclass
class SeedRun:
    """Test-set probabilities and stage keys per model name ("weak", "ceiling", each method)."""

    probs: dict[str, np.ndarray]
    keys: dict[str, str]


def _fit_predict(factory: ModelFactory, seed: int, texts, targets, loss_name: str, params: dict, predict: dict) -> dict[str, np.ndarray]:
    from ..losses import get_loss  # imports torch: only when a stage is actually computed

    model = factory(seed)
    model.fit(texts, targets, get_loss(loss_name, **params), loss_name=loss_name)
    return {name: model.predict_proba(x) for name, x in predict.items()}


def check_methods(cfg: ExperimentConfig) -> None:
    """Fail fast on unknown methods or hyper-parameters, before any model is trained."""
    from ..losses import get_loss

    for m in cfg.methods:
        get_loss(m, **cfg.method_params.get(m, {}))


def run_seed(
    cfg: ExperimentConfig, splits: Splits, seed: int, store: Store, weak: ModelFactory, strong: ModelFactory,
    on_stage: Callable[[str], None] = lambda _: None,
) -> SeedRun:
    """Fit (or load) the weak model, the ceiling and one student per method for one seed."""
    gt, w2s, test = splits.train_gt, splits.train_w2s, splits.test
    common = (cfg.probe.model_dump(), seed, test.texts)
    weak_key = fingerprint("weak", weak.key, common, gt.texts, gt.labels, w2s.texts)
    weak_out = store.stage(
        weak_key,
        lambda: _fit_predict(weak, seed, gt.texts, one_hot(gt.labels), "xent", {}, {"w2s": w2s.texts, "test": test.texts}),
    )
    on_stage("weak")
    out = {"weak": weak_out["test"]}
    ceil_key = fingerprint("ceiling", strong.key, common, w2s.texts, w2s.labels)
    out["ceiling"] = store.stage(
        ceil_key, lambda: _fit_predict(strong, seed, w2s.texts, one_hot(w2s.labels), "xent", {}, {"test": test.texts})
    )["test"]
    on_stage("ceiling")
    weak_labels = weak_out["w2s"].astype(np.float32)
    keys = {"weak": weak_key, "ceiling": ceil_key}
    for method in cfg.methods:
        params = cfg.method_params.get(method, {})
        key = fingerprint("student", strong.key, method, params, common, w2s.texts, weak_labels)
        out[method] = store.stage(
            key, lambda: _fit_predict(strong, seed, w2s.texts, weak_labels, method, params, {"test": test.texts})
        )["test"]
        keys[method] = key
        on_stage(method)
    return SeedRun(out, keys)


def summarize(
    cfg: ExperimentConfig, tests: list[np.ndarray], probs: list[dict[str, np.ndarray]], metric: str = "accuracy"
) -> dict[str, Any]:
    """The summary: accuracies, the task's primary metric (``score``) and PGR on it, with
    bootstrap CIs over seeds x test resamples. For accuracy tasks ``score`` equals ``acc``."""
    correct = {name: [p[name].argmax(-1) == y for p, y in zip(probs, tests)] for name in probs[0]}
    boot = dict(n_boot=cfg.n_bootstrap, min_gap=cfg.min_gap, seed=cfg.data_seed, labels=tests)
    acc = PGRAnalysis(correct, **boot)
    primary = acc if metric == "accuracy" else PGRAnalysis(correct, metric=metric, **boot)
    methods = {}
    for m in cfg.methods:
        methods[m] = {
            "acc": acc.acc(m).to_dict(),
            "score": primary.score(m).to_dict(),
            "pgr": primary.pgr(m).to_dict(),
            "agreement": float(np.mean([(p[m].argmax(-1) == p["weak"].argmax(-1)).mean() for p in probs])),
        }
    return {
        "task": cfg.task,
        "weak": cfg.weak,
        "strong": cfg.strong,
        "seeds": list(cfg.seeds),
        "metric": metric,
        "weak_acc": acc.acc("weak").to_dict(),
        "ceiling_acc": acc.acc("ceiling").to_dict(),
        "weak_score": primary.score("weak").to_dict(),
        "ceiling_score": primary.score("ceiling").to_dict(),
        "gap": primary.gap().to_dict(),
        "methods": methods,
        "config_hash": cfg.hash(),
    }


def run_experiment(cfg: ExperimentConfig, store: Store | None = None, progress: bool = False) -> ExperimentResult:
    """Run (or resume) an experiment; every finished stage is reused from the store."""
    store = store or Store()
    chash = cfg.hash()
    store.before_compute = lambda: check_methods(cfg)
    atomic_write_json(store.run_dir(chash) / "config.json", cfg.model_dump(mode="json"))
    task = get_task(cfg.task, **cfg.task_args)
    data = task.load()
    weak, strong = ModelFactory(cfg.weak, cfg), ModelFactory(cfg.strong, cfg)
    before = len(store.computed)
    tests, probs, rows = [], [], []
    with _progress(progress, len(cfg.seeds) * (2 + len(cfg.methods))) as tick:
        for seed in cfg.seeds:
            splits = make_splits(data, cfg.sizes.model_dump(), seed=seed, data_seed=cfg.data_seed)
            run = run_seed(cfg, splits, seed, store, weak, strong, on_stage=lambda name, s=seed: tick(f"seed {s}: {name}"))
            p = run.probs
            tests.append(splits.test.labels)
            probs.append(p)
            for name, pr in p.items():
                role = name if name in ("weak", "ceiling") else "student"
                metrics = evaluate(pr, splits.test.labels, None if role == "weak" else p["weak"])
                rows.append({
                    "config_hash": chash, "task": cfg.task, "seed": seed, "role": role,
                    "model": cfg.weak if role == "weak" else cfg.strong,
                    "method": "-" if role != "student" else name, "stage_key": run.keys[name], **metrics,
                })
    store.record(rows)
    summary = summarize(cfg, tests, probs, metric=task_metric(task))
    atomic_write_json(store.run_dir(chash) / "summary.json", summary)
    return ExperimentResult(cfg, summary, rows, store.computed[before:])


class _progress:
    """A rich progress bar over stages (a no-op when disabled)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self) -> Callable[[str], None]:
        if not self.enabled:
            return lambda _: None
        from rich.progress import Progress

        self._p = Progress(transient=True)
        self._p.start()
        task = self._p.add_task("stages", total=self.total)
        return lambda desc: self._p.update(task, advance=1, description=desc)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._p.stop()
