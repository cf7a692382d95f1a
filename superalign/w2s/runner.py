"""The weak-to-strong experiment: weak supervisor -> weak labels -> strong students, vs a ceiling.

For each seed, on disjoint splits:
  weak     fit on ground truth of ``train_gt``; predicts ``train_w2s`` and ``val`` (soft weak
           labels) and ``test``
  ceiling  the strong model fit on ground truth of ``train_w2s`` (early-stopped on ground truth
           of ``val`` when it is fine-tuned)
  student  the strong model fit on the weak labels of ``train_w2s``, once per method (early-stopped
           on the *weak* labels of ``val`` when it is fine-tuned)
All are scored on ``test``. Students and the weak model are only ever handed texts and weak
labels; the ground truth of ``train_w2s`` and ``val`` reaches the ceiling alone
(tests/test_leakage.py). Each fitted model is a cached *stage* keyed by the content hash of
exactly what it sees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import assets
from ..config import ExperimentConfig
from ..data import Splits, fingerprint, get_task, make_splits
from ..metrics import PGRAnalysis, evaluate
from ..models import CachedEncoder, Classifier, ProbeClassifier, TfidfClassifier, encoder_for, hf_source
from ..store import Store, atomic_write_json

log = logging.getLogger(__name__)


def one_hot(labels: np.ndarray, k: int = 2) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[labels]


class ModelFactory:
    """Builds fresh classifiers of one ladder rung.

    ``mode: probe``: a head on a shared (lazily loaded) cached encoder, or TF-IDF.
    ``mode: finetune``: a `FinetuneClassifier` for Hugging Face models; tfidf and static, which
    have no transformer to fine-tune, keep their probe/TF-IDF classifier.
    ``key`` identifies the weights, ``settings`` the training recipe (both go into stage keys);
    ``uses_val`` says whether `fit` consumes a validation set (fine-tuning's early stopping).
    """

    def __init__(self, spec: str, cfg: ExperimentConfig):
        self.spec, self.cfg = spec, cfg
        source = hf_source(spec) if cfg.mode == "finetune" else None
        self.finetune = source is not None
        self.encoder = None
        if self.finetune:
            self.source, self.key = source
            self.settings: Any = ("finetune", cfg.finetune.key())
        else:
            self.encoder = None if spec == "tfidf" else CachedEncoder(encoder_for(spec), assets.home() / "features")
            self.key = "tfidf" if self.encoder is None else self.encoder.key
            self.settings = cfg.probe.model_dump()
        self.uses_val = self.finetune and cfg.finetune.early_stopping

    def __call__(self, seed: int, workdir: Path | None = None) -> Classifier:
        """A fresh classifier; ``workdir`` is where a fine-tuned model keeps its checkpoint."""
        if self.finetune:
            from ..models.finetune import FinetuneClassifier  # imports torch: only when a stage runs

            return FinetuneClassifier(self.source, self.key, self.cfg.finetune, seed=seed, checkpoint_dir=workdir)
        if self.encoder is None:
            return TfidfClassifier(seed=seed)
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


def _fit_predict(
    factory: ModelFactory, seed: int, texts, targets, loss_name: str, params: dict, predict: dict,
    val: tuple | None = None, workdir: Path | None = None,
) -> dict[str, np.ndarray]:
    from ..losses import get_loss  # imports torch: only when a stage is actually computed

    model = factory(seed, workdir)
    model.fit(texts, targets, get_loss(loss_name, **params), loss_name=loss_name, val=val if factory.uses_val else None)
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
    """Fit (or load) the weak model, the ceiling and one student per method for one seed.

    The weak model gets no validation set (the ground truth of ``val`` is the ceiling's alone);
    a fine-tuned ceiling early-stops on the ground truth of ``val``, a fine-tuned student on the
    weak model's labels of ``val``.
    """
    gt, w2s, val, test = splits.train_gt, splits.train_w2s, splits.val, splits.test
    weak_key = fingerprint("weak", weak.key, weak.settings, seed, test.texts, gt.texts, gt.labels, w2s.texts, val.texts)
    weak_out = store.stage(
        weak_key,
        lambda: _fit_predict(weak, seed, gt.texts, one_hot(gt.labels), "xent", {},
                             {"w2s": w2s.texts, "val": val.texts, "test": test.texts}, workdir=store.checkpoint_dir(weak_key)),
    )
    on_stage("weak")
    out = {"weak": weak_out["test"]}

    def seen_val(labels: np.ndarray) -> tuple:
        """What the strong model sees of ``val``: nothing for probes (which take no val set)."""
        return (val.texts, labels) if strong.uses_val else ()

    common = (strong.settings, seed, test.texts)
    gt_val = (val.texts, one_hot(val.labels))
    ceil_key = fingerprint("ceiling", strong.key, common, w2s.texts, w2s.labels, *seen_val(val.labels))
    out["ceiling"] = store.stage(
        ceil_key,
        lambda: _fit_predict(strong, seed, w2s.texts, one_hot(w2s.labels), "xent", {}, {"test": test.texts},
                             val=gt_val, workdir=store.checkpoint_dir(ceil_key)),
    )["test"]
    on_stage("ceiling")
    weak_labels = weak_out["w2s"].astype(np.float32)
    weak_val = (val.texts, weak_out["val"].astype(np.float32))
    keys = {"weak": weak_key, "ceiling": ceil_key}
    for method in cfg.methods:
        params = cfg.method_params.get(method, {})
        key = fingerprint("student", strong.key, method, params, common, w2s.texts, weak_labels, *seen_val(weak_val[1]))
        out[method] = store.stage(
            key,
            lambda: _fit_predict(strong, seed, w2s.texts, weak_labels, method, params, {"test": test.texts},
                                 val=weak_val, workdir=store.checkpoint_dir(key)),
        )["test"]
        keys[method] = key
        on_stage(method)
    return SeedRun(out, keys)


def summarize(cfg: ExperimentConfig, tests: list[np.ndarray], probs: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """The summary: accuracies and PGR with bootstrap CIs over seeds x test resamples."""
    correct = {name: [p[name].argmax(-1) == y for p, y in zip(probs, tests)] for name in probs[0]}
    pgr = PGRAnalysis(correct, n_boot=cfg.n_bootstrap, min_gap=cfg.min_gap, seed=cfg.data_seed)
    methods = {}
    for m in cfg.methods:
        methods[m] = {
            "acc": pgr.acc(m).to_dict(),
            "pgr": pgr.pgr(m).to_dict(),
            "agreement": float(np.mean([(p[m].argmax(-1) == p["weak"].argmax(-1)).mean() for p in probs])),
        }
    return {
        "task": cfg.task,
        "weak": cfg.weak,
        "strong": cfg.strong,
        "seeds": list(cfg.seeds),
        "weak_acc": pgr.acc("weak").to_dict(),
        "ceiling_acc": pgr.acc("ceiling").to_dict(),
        "gap": pgr.gap().to_dict(),
        "methods": methods,
        "config_hash": cfg.hash(),
    }


def run_experiment(cfg: ExperimentConfig, store: Store | None = None, progress: bool = False) -> ExperimentResult:
    """Run (or resume) an experiment; every finished stage is reused from the store."""
    store = store or Store()
    chash = cfg.hash()
    store.before_compute = lambda: check_methods(cfg)
    atomic_write_json(store.run_dir(chash) / "config.json", cfg.model_dump(mode="json"))
    data = get_task(cfg.task, **cfg.task_args).load()
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
    summary = summarize(cfg, tests, probs)
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
