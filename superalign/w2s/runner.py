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

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import Splits, get_task, make_splits, one_hot, task_metric
from ..errors import ConfigError
from ..metrics import PGRAnalysis, evaluate, task_score
from ..models import ModelFactory
from ..progress import progress_bar
from ..store import Store, atomic_write_json
from .chain import relabel_out_of_fold
from .config import ExperimentConfig
from .deception import deception_measures
from .methods import MethodContext, get_method
from .stages import (
    StageKeys,
    check_methods,
    fit_predict,
    lm_pretrained,
    prefetch_features,
    strong_features,
    student_factory,
    supervisor_labels,
)
from .tuning import ValView, candidates, knn_reference, tune_method

log = logging.getLogger(__name__)


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
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> candidates, criterion, chosen
    candidates: dict[str, np.ndarray] = field(default_factory=dict)  # each tuning candidate's test probabilities
    w2s_labels: dict[str, np.ndarray] = field(default_factory=dict)  # soft labels of train_w2s: weak, each supervisor
    supervisors: dict[str, list[str]] = field(default_factory=dict)  # method -> names of its extra supervisors


def run_seed(
    cfg: ExperimentConfig,
    splits: Splits,
    seed: int,
    store: Store,
    weak: ModelFactory,
    strong: ModelFactory,
    on_stage: Callable[[str], None] = lambda _: None,
    rungs: Sequence[ModelFactory] = (),
    label_names: Sequence[str] | None = None,
    metric: str | None = None,
) -> SeedRun:
    """Fit (or load) the weak model, the ceiling, the chain's intermediate `rungs` (if any) and one
    student per method for one seed. Intermediate rungs appear as ``rung:<model>``.

    The weak model gets no validation set (the ground truth of ``val`` is the ceiling's alone);
    a fine-tuned ceiling early-stops on the ground truth of ``val``, a fine-tuned student on the
    weak model's labels of ``val``.
    """
    gt, w2s, val, test = splits.train_gt, splits.train_w2s, splits.val, splits.test
    first = len(store.computed)
    strong = lm_pretrained(strong, cfg, splits, seed, store)  # generative fine-tuning, when enabled
    keys = StageKeys(splits, seed, strong)
    weak_key = keys.weak(weak)
    weak_out = store.stage(
        weak_key,
        lambda: fit_predict(
            weak,
            seed,
            gt.texts,
            one_hot(gt.labels),
            "xent",
            {},
            {"w2s": w2s.texts, "val": val.texts, "test": test.texts},
            workdir=store.checkpoint_dir(weak_key),
        ),
    )
    on_stage("weak")
    out = {"weak": weak_out["test"]}
    ceil_key = keys.ceiling()
    out["ceiling"] = store.stage(
        ceil_key,
        lambda: fit_predict(
            strong,
            seed,
            w2s.texts,
            one_hot(w2s.labels),
            "xent",
            {},
            {"test": test.texts},
            val=(val.texts, one_hot(val.labels)),
            workdir=store.checkpoint_dir(ceil_key),
        ),
    )["test"]
    on_stage("ceiling")
    labels = weak_out["w2s"].astype(np.float32)
    weak_val = (val.texts, weak_out["val"].astype(np.float32))
    stage_keys = {"weak": weak_key, "ceiling": ceil_key}
    for rung in rungs:  # bootstrapping: each rung learns the labels of the one below, relabels out of fold
        name, key = f"rung:{rung.spec}", keys.rung(rung, labels)
        r = store.stage(key, lambda: relabel_out_of_fold(rung, seed, w2s.texts, labels, test.texts))
        out[name], stage_keys[name], labels = r["test"], key, r["w2s"].astype(np.float32)
        on_stage(name)
    factories = {f.spec: f for f in (weak, strong, *rungs)}
    if label_names is None or metric is None:  # class names (for prompts, never labels); the metric tuning scores by
        task = get_task(cfg.task, **cfg.task_args)
        label_names = label_names or getattr(task, "label_names", ("no", "yes"))
        metric = metric or task_metric(task)
    names = (str(label_names[0]), str(label_names[1]))
    extra: dict[str, list[str]] = {}  # method -> keys of its supervisor stages (and of unchosen candidates)
    w2s_labels: dict[str, np.ndarray] = {"weak": labels}
    used: dict[str, list[str]] = {}  # method -> names of the extra supervisors of its (chosen) student

    def wanted_by(method: str, params: dict) -> list:
        m = get_method(method)
        return m.supervisors(m.parse(params), cfg.weak)

    def student(method: str, params: dict, predict_val: bool = False) -> tuple[np.ndarray, str, list[str]]:
        """One student of `method` on the weak labels: its test probabilities (val's first when
        `predict_val`), stage key and supervisor stage keys."""
        m = get_method(method)
        wanted = wanted_by(method, params)
        sups = [supervisor_labels(s, cfg, keys, store, factories) for s in wanted]
        sup = [labels_ for labels_, _ in sups]
        w2s_labels.update((s.name, labels_) for s, labels_ in zip(wanted, sup))
        extra_key = ("label_names", names) if m.uses_label_names else ()
        if predict_val:  # a tuning candidate predicts val too
            extra_key = (*extra_key, "val", val.texts)
        key = keys.student(method, params, labels, weak_val[1], sup, extra=extra_key)
        ctx = MethodContext(
            list(w2s.texts),
            labels,
            [*val.texts, *test.texts] if predict_val else list(test.texts),
            student_factory(strong, seed, store.checkpoint_dir(key)),
            strong_features(strong),
            sup,
            val=weak_val if strong.uses_val else None,
            label_names=names,
        )
        return store.stage(key, lambda: {"test": m(ctx, params)})["test"], key, [k for _, k in sups]

    val_view = ValView(
        weak_val[1],
        functools.cache(
            lambda: knn_reference(strong_features(strong), w2s.texts, labels, val.texts, weak_val[1], cfg.tune.knn)
        ),
        metric,
    )
    tune = cfg.tune.model_copy(update={"criterion": cfg.tune.resolved(strong.encoder is not None)})
    tuning: dict[str, dict[str, Any]] = {}
    candidate_probs: dict[str, np.ndarray] = {}
    for method in cfg.methods:
        params = cfg.method_params.get(method, {})
        grid = cfg.tune.grid.get(method)
        if grid:  # weak-label selection on val (tuning.py): no gold label of val or train_w2s is read
            fit = functools.partial(student, method, predict_val=True)
            out[method], key, sup_keys, tuning[method], cands = tune_method(method, grid, params, fit, val_view, tune)
            candidate_probs.update(cands)
            params = candidates(grid, params)[tuning[method]["chosen"]]
        else:
            out[method], key, sup_keys = student(method, params)
        used[method] = [s.name for s in wanted_by(method, params)]
        stage_keys[method] = key
        extra[method] = sup_keys
        on_stage(method)
    fresh = set(store.computed[first:])
    seconds = {
        name: sum(store.seconds[k] for k in [stage_keys[name], *extra.get(name, [])] if k in fresh) for name in out
    }
    return SeedRun(out, stage_keys, seconds, tuning, candidate_probs, w2s_labels, used)


def summarize(
    cfg: ExperimentConfig,
    tests: list[np.ndarray],
    probs: list[dict[str, np.ndarray]],
    metric: str = "accuracy",
    tuned: list[SeedRun] | None = None,
) -> dict[str, Any]:
    """The summary: accuracies, the task's primary metric (``score``) and PGR on it, with
    bootstrap CIs over seeds x test resamples. For accuracy tasks ``score`` equals ``acc``.
    `tuned`: each seed's run, whose tuning candidates are scored in ``tuning``."""
    scored = [{**p, **r.candidates} for p, r in zip(probs, tuned)] if tuned else probs
    correct = {name: [p[name].argmax(-1) == y for p, y in zip(scored, tests)] for name in scored[0]}
    boot = dict(n_boot=cfg.n_bootstrap, min_gap=cfg.min_gap, seed=cfg.data_seed, labels=tests)
    acc = PGRAnalysis(correct, **boot)
    primary = acc if metric == "accuracy" else PGRAnalysis(correct, metric=metric, **boot)
    methods = {}
    deception = deception_measures(tests, probs, list(cfg.methods), n_boot=cfg.n_bootstrap, seed=cfg.data_seed)
    for m in cfg.methods:
        methods[m] = {
            "acc": acc.score(m).to_dict(),
            "score": primary.score(m).to_dict(),
            "pgr": primary.pgr(m).to_dict(),
            "agreement": float(np.mean([(p[m].argmax(-1) == p["weak"].argmax(-1)).mean() for p in probs])),
            "deception": deception[m],  # accuracy where the weak model is right / wrong; Yang et al.'s score
        }
        if "xent" in cfg.methods and m != "xent":  # paired over the same bootstrap draws: tighter than two CIs
            methods[m]["pgr_vs_xent"] = primary.pgr_diff(m, "xent").to_dict()
    summary = {
        "task": cfg.task,
        "weak": cfg.weak,
        "strong": cfg.strong,
        "seeds": list(cfg.seeds),
        "metric": metric,
        "weak_acc": acc.score("weak").to_dict(),
        "ceiling_acc": acc.score("ceiling").to_dict(),
        "weak_score": primary.score("weak").to_dict(),
        "ceiling_score": primary.score("ceiling").to_dict(),
        "gap": primary.gap().to_dict(),
        "methods": methods,
        "ceiling_deception": deception["ceiling"],  # the reference: what the strong model knows where weak errs
        "config_hash": cfg.hash(),
    }
    if tuned and cfg.tune.enabled:
        summary["tuning"] = tuning_summary(cfg, tuned, primary)
    if cfg.chain:  # intermediate rungs, scored like students against the weak floor and last ceiling
        summary["chain"] = list(cfg.chain)
        summary["rungs"] = {
            r: {
                "acc": acc.score(f"rung:{r}").to_dict(),
                "score": primary.score(f"rung:{r}").to_dict(),
                "pgr": primary.pgr(f"rung:{r}").to_dict(),
            }
            for r in cfg.chain[1:-1]
        }
    return summary


def label_scores(runs: list[SeedRun], golds: list[np.ndarray], metric: str) -> dict[str, float]:
    """Each label source's score on train_w2s against its gold (the weak labels, each extra
    supervisor), averaged over seeds: evaluation only, after every model is trained. A student
    that merely matches its best supervisor has not generalized beyond its supervision."""
    names = dict.fromkeys(n for r in runs for n in r.w2s_labels)
    pairs = [(r.w2s_labels, y) for r, y in zip(runs, golds)]
    return {n: float(np.mean([task_score(metric, labels[n], y) for labels, y in pairs if n in labels])) for n in names}


def tuning_summary(cfg: ExperimentConfig, runs: list[SeedRun], primary: PGRAnalysis) -> dict[str, Any]:
    """Per tuned method: each candidate's mean criterion on val (weak labels) and its test score
    and PGR (gold, for the record only), and which candidate each seed chose."""
    out = {}
    for method in cfg.tune.grid:
        names = runs[0].tuning[method]["candidates"]
        out[method] = {
            "criterion": runs[0].tuning[method]["criterion_name"],
            "chosen": [r.tuning[method]["candidates"][r.tuning[method]["chosen"]] for r in runs],
            "candidates": {
                name: {
                    "criterion": float(np.mean([r.tuning[method]["criterion"][i] for r in runs])),
                    "score": primary.score(name).to_dict(),
                    "pgr": primary.pgr(name).to_dict(),
                }
                for i, name in enumerate(names)
            },
        }
    return out


def run_experiment(cfg: ExperimentConfig, store: Store | None = None, progress: bool = False) -> ExperimentResult:
    """Run (or resume) an experiment; every finished stage is reused from the store."""
    task = get_task(cfg.task, **cfg.task_args)
    if task.kind == "generation":
        raise ConfigError(
            f"task {cfg.task!r} is a generation task: `superalign run` trains classifiers; "
            "run it with `superalign best-of-n --task ...` (setting B)"
        )
    store = store or Store()
    chash = cfg.hash()
    atomic_write_json(store.run_dir(chash) / "config.json", cfg.model_dump(mode="json"))
    data = task.load()
    sizes = cfg.split_sizes(task)
    if sizes != cfg.sizes:
        log.warning(
            "task %r: using its default split sizes %s (set sizes.* to change them)", cfg.task, sizes.model_dump()
        )
    weak, strong = cfg.factory(cfg.weak), cfg.factory(cfg.strong)
    rungs = [cfg.factory(spec) for spec in cfg.chain[1:-1]]
    before = len(store.computed)
    tests, probs, rows, runs, golds = [], [], [], [], []
    all_splits = {seed: make_splits(data, sizes.model_dump(), seed=seed, data_seed=cfg.data_seed) for seed in cfg.seeds}

    def before_compute() -> None:  # once, before the first stage that is not stored
        check_methods(cfg)
        prefetch_features(weak, [strong, *rungs], list(all_splits.values()))

    with (
        store.check_before_compute(before_compute),
        progress_bar(progress, len(cfg.seeds) * (2 + len(rungs) + len(cfg.methods))) as tick,
    ):
        for seed in cfg.seeds:
            splits = all_splits[seed]
            run = run_seed(
                cfg,
                splits,
                seed,
                store,
                weak,
                strong,
                on_stage=lambda name, s=seed: tick(f"seed {s}: {name}"),
                rungs=rungs,
                label_names=getattr(task, "label_names", ("no", "yes")),
                metric=task_metric(task),
            )
            p = run.probs
            runs.append(run)
            tests.append(splits.test.labels)
            golds.append(splits.train_w2s.labels)
            probs.append(p)
            for name, pr in p.items():
                role = name if name in ("weak", "ceiling") else "rung" if name.startswith("rung:") else "student"
                metrics = evaluate(pr, splits.test.labels, None if role == "weak" else p["weak"])
                model = {"weak": cfg.weak, "rung": name.removeprefix("rung:")}.get(role, cfg.strong)
                rows.append(
                    {
                        "config_hash": chash,
                        "task": cfg.task,
                        "seed": seed,
                        "role": role,
                        "model": model,
                        "method": name if role in ("student", "rung") else "-",
                        "stage_key": run.keys[name],
                        **metrics,
                        "seconds": run.seconds.get(name, 0.0),  # compute time in this call (not stored in the table)
                    }
                )
    store.record(rows)
    summary = {**summarize(cfg, tests, probs, metric=task_metric(task), tuned=runs), "sizes": sizes.model_dump()}
    summary["train_w2s_label_score"] = label_scores(runs, golds, task_metric(task))
    for m in cfg.methods:
        summary["methods"][m]["supervisors"] = runs[0].supervisors.get(m, [])
    atomic_write_json(store.run_dir(chash) / "summary.json", summary)
    return ExperimentResult(cfg, summary, rows, store.computed[before:])
