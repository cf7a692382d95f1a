"""The weak-to-strong experiment: weak supervisor -> weak labels -> strong students, vs a ceiling.

For each seed, on disjoint splits:
  weak     fit on ground truth of ``train_gt``; predicts ``train_w2s`` and ``val`` (soft weak
           labels) and ``test``
  ceiling  the strong model fit on ground truth of ``train_w2s`` (early-stopped on ground truth
           of ``val`` when it is fine-tuned)
  student  the strong model fit on the weak labels of ``train_w2s``, once per method (a loss or a
           label intervention, see ``methods.py``; early-stopped on the *weak* labels of ``val``
           when it is fine-tuned)
With a bootstrapping chain (``cfg.chain``), intermediate rungs relabel ``train_w2s`` in turn
(``chain.py``) and the students train on the last rung's labels. All are scored on ``test``.
Students and the weak model are only ever handed texts and weak labels; the ground truth of
``train_w2s`` and ``val`` reaches the ceiling alone (tests/test_leakage.py). Each fitted model is
a cached *stage* keyed by the content hash of exactly what it sees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import assets
from ..config import ExperimentConfig
from ..data import Splits, fingerprint, get_task, make_splits, task_metric
from ..metrics import PGRAnalysis, evaluate
from ..errors import ConfigError
from ..models import (
    CachedEncoder, Classifier, FinetuneConfig, ProbeClassifier, ProbeConfig, SpelledClassifier, SpellingNormalizer,
    classifier_builder, encoder_for, hf_source,
)
from ..store import Store, atomic_write_json
from .chain import relabel_out_of_fold
from .methods import MethodContext, Supervisor, check_method, get_method

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
    ``spelling`` (``corpus`` or ``english``, the lexicon of `SpellingNormalizer.for_lexicon`):
    every classifier reads its inputs through a word-recognition front-end (`SpelledClassifier`,
    fit on its own training texts).
    """

    def __init__(self, spec: str, probe: ProbeConfig, finetune: FinetuneConfig | None = None, spelling: str = "off"):
        self.spec, self.probe, self.finetune_config, self.spelling = spec, probe, finetune, spelling
        source = hf_source(spec) if finetune is not None else None
        self.finetune = source is not None
        self._build = None if self.finetune else classifier_builder(spec)  # tfidf, profanity_check
        self.encoder = None
        if self.finetune:
            self.source, self.key = source
            self.settings: Any = ("finetune", finetune.key())
        else:
            if self._build is None:
                self.encoder = CachedEncoder(encoder_for(spec), assets.home() / "features")
            self.key = self._build(0).key if self._build is not None else self.encoder.key
            self.settings = probe.model_dump()
        if spelling != "off":
            self.settings = (self.settings, f"spelling-{spelling}")
        self.uses_val = self.finetune and finetune.early_stopping

    @classmethod
    def of(cls, spec: str, cfg: ExperimentConfig) -> ModelFactory:
        """The factory for `spec` under an experiment's mode, probe and fine-tuning settings."""
        return cls(spec, cfg.probe, cfg.finetune if cfg.mode == "finetune" else None)

    def __call__(self, seed: int, workdir: Path | None = None) -> Classifier:
        """A fresh classifier; ``workdir`` is where a fine-tuned model keeps its checkpoint."""
        clf = self._fresh(seed, workdir)
        return SpelledClassifier(clf, SpellingNormalizer.for_lexicon(self.spelling)) if self.spelling != "off" else clf

    def _fresh(self, seed: int, workdir: Path | None) -> Classifier:
        if self.finetune:
            from ..models.finetune import FinetuneClassifier  # imports torch: only when a stage runs

            return FinetuneClassifier(self.source, self.key, self.finetune_config, seed=seed, checkpoint_dir=workdir)
        if self._build is not None:
            return self._build(seed)
        return ProbeClassifier(self.encoder, self.probe, seed=seed)


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
    seconds: dict[str, float] = field(default_factory=dict)  # compute time per model in this call (0: cached)


def _fit_predict(
    factory: ModelFactory, seed: int, texts, targets, loss_name: str, params: dict, predict: dict,
    val: tuple | None = None, workdir: Path | None = None,
) -> dict[str, np.ndarray]:
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
            if classifier_builder(sup.model) is None:  # models without an encoder (tfidf, profanity_check) need no check
                encoder_for(sup.model)  # unknown models are a ModelError now, not after the weak stage


def _student_factory(strong: ModelFactory, seed: int, workdir: Path) -> Callable[[], Classifier]:
    """Fresh strong classifiers for one method; each gets its own checkpoint folder (a method
    such as s2s trains several students in turn, and a folder's checkpoint is reused on refit)."""
    count = iter(range(1_000_000))
    return lambda: strong(seed, workdir / f"student{next(count)}")


def _features(factory: ModelFactory) -> Callable:
    def encode(texts):
        if factory.encoder is None:
            raise ConfigError(f"this method needs the strong model's features; {factory.spec!r} has no frozen encoder")
        return factory.encoder.encode(texts)

    return encode


def _supervisor_labels(sup: Supervisor, cfg: ExperimentConfig, splits: Splits, seed: int, store: Store,
                       factories: dict[str, ModelFactory]) -> tuple[np.ndarray, str]:
    """Soft labels of train_w2s from an extra weak supervisor fit on (a resample of) train_gt: a cached stage."""
    if sup.model not in factories:
        factories[sup.model] = ModelFactory.of(sup.model, cfg)
    f, gt, w2s = factories[sup.model], splits.train_gt, splits.train_w2s
    sub_seed = seed * 1000 + 1 + sup.index
    idx = np.random.default_rng(sub_seed).integers(0, len(gt), len(gt)) if sup.bag else np.arange(len(gt))
    texts, labels = [gt.texts[i] for i in idx], gt.labels[idx]
    key = fingerprint("supervisor", f.key, f.settings, sub_seed, texts, labels, w2s.texts)
    return store.stage(key, lambda: _fit_predict(f, sub_seed, texts, one_hot(labels), "xent", {}, {"w2s": w2s.texts}))["w2s"], key


def run_seed(
    cfg: ExperimentConfig, splits: Splits, seed: int, store: Store, weak: ModelFactory, strong: ModelFactory,
    on_stage: Callable[[str], None] = lambda _: None, rungs: Sequence[ModelFactory] = (),
) -> SeedRun:
    """Fit (or load) the weak model, the ceiling, the chain's intermediate `rungs` (if any) and one
    student per method for one seed. Intermediate rungs appear as ``rung:<model>``.

    The weak model gets no validation set (the ground truth of ``val`` is the ceiling's alone);
    a fine-tuned ceiling early-stops on the ground truth of ``val``, a fine-tuned student on the
    weak model's labels of ``val``.
    """
    gt, w2s, val, test = splits.train_gt, splits.train_w2s, splits.val, splits.test
    first = len(store.computed)
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
    labels = weak_out["w2s"].astype(np.float32)
    weak_val = (val.texts, weak_out["val"].astype(np.float32))
    keys = {"weak": weak_key, "ceiling": ceil_key}
    for rung in rungs:  # bootstrapping: each rung learns the labels of the one below, relabels out of fold
        name, key = f"rung:{rung.spec}", fingerprint("rung", rung.key, common, w2s.texts, labels)
        r = store.stage(key, lambda: relabel_out_of_fold(rung, seed, w2s.texts, labels, test.texts))
        out[name], keys[name], labels = r["test"], key, r["w2s"].astype(np.float32)
        on_stage(name)
    factories = {f.spec: f for f in (weak, strong, *rungs)}
    extra: dict[str, list[str]] = {}  # method -> keys of its supervisor stages
    for method in cfg.methods:
        m, params = get_method(method), cfg.method_params.get(method, {})
        sups = [_supervisor_labels(s, cfg, splits, seed, store, factories) for s in m.supervisors(m.parse(params), cfg.weak)]
        sup = [labels_ for labels_, _ in sups]
        # the key holds everything the student sees: its texts, the weak labels, extra supervisors' labels
        key = fingerprint("student", strong.key, method, params, common, w2s.texts, labels, *seen_val(weak_val[1]),
                          *([sup] if sup else []))
        ctx = MethodContext(list(w2s.texts), labels, list(test.texts), _student_factory(strong, seed, store.checkpoint_dir(key)),
                            _features(strong), sup, val=weak_val if strong.uses_val else None)
        out[method] = store.stage(key, lambda: {"test": m(ctx, params)})["test"]
        keys[method] = key
        extra[method] = [k for _, k in sups]
        on_stage(method)
    fresh = set(store.computed[first:])
    seconds = {name: sum(store.seconds[k] for k in [keys[name], *extra.get(name, [])] if k in fresh) for name in out}
    return SeedRun(out, keys, seconds)


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
        if "xent" in cfg.methods and m != "xent":  # paired over the same bootstrap draws: tighter than two CIs
            methods[m]["pgr_vs_xent"] = primary.pgr_diff(m, "xent").to_dict()
    summary = {
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
    if cfg.chain:  # intermediate rungs, scored like students against the weak floor and last ceiling
        summary["chain"] = list(cfg.chain)
        summary["rungs"] = {
            r: {"acc": acc.acc(f"rung:{r}").to_dict(), "score": primary.score(f"rung:{r}").to_dict(), "pgr": primary.pgr(f"rung:{r}").to_dict()} for r in cfg.chain[1:-1]
        }
    return summary


def run_experiment(cfg: ExperimentConfig, store: Store | None = None, progress: bool = False) -> ExperimentResult:
    """Run (or resume) an experiment; every finished stage is reused from the store."""
    store = store or Store()
    chash = cfg.hash()
    atomic_write_json(store.run_dir(chash) / "config.json", cfg.model_dump(mode="json"))
    task = get_task(cfg.task, **cfg.task_args)
    data = task.load()
    weak, strong = ModelFactory.of(cfg.weak, cfg), ModelFactory.of(cfg.strong, cfg)
    rungs = [ModelFactory.of(spec, cfg) for spec in cfg.chain[1:-1]]
    before = len(store.computed)
    tests, probs, rows = [], [], []
    with store.check_before_compute(lambda: check_methods(cfg)), \
            _progress(progress, len(cfg.seeds) * (2 + len(rungs) + len(cfg.methods))) as tick:
        for seed in cfg.seeds:
            splits = make_splits(data, cfg.sizes.model_dump(), seed=seed, data_seed=cfg.data_seed)
            run = run_seed(cfg, splits, seed, store, weak, strong, on_stage=lambda name, s=seed: tick(f"seed {s}: {name}"), rungs=rungs)
            p = run.probs
            tests.append(splits.test.labels)
            probs.append(p)
            for name, pr in p.items():
                role = name if name in ("weak", "ceiling") else "rung" if name.startswith("rung:") else "student"
                metrics = evaluate(pr, splits.test.labels, None if role == "weak" else p["weak"])
                model = {"weak": cfg.weak, "rung": name.removeprefix("rung:")}.get(role, cfg.strong)
                rows.append({
                    "config_hash": chash, "task": cfg.task, "seed": seed, "role": role, "model": model,
                    "method": name if role in ("student", "rung") else "-", "stage_key": run.keys[name], **metrics,
                    "seconds": run.seconds.get(name, 0.0),  # compute time in this call (not stored in the table)
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
