"""Setting A: a weak teacher's generations fine-tune a strong student (WTS's generation setting).

Per seed, on the splits of a generation task (``sentiment_continuation``):
  weak teacher  a weaker causal LM (``weak``: the strong model cut to its first k decoder layers,
                ``NAME@k``, or any causal-LM folder), with ``heal.enabled`` first trained as a
                language model on unlabelled pool sentences outside every split, then fine-tuned
                on the gold demonstrations of ``train_gt`` (its positively rated sentences)     [model]
  weak labels   the teacher continues every ``train_w2s`` prompt                              [stage]
  ceiling       the strong model fine-tuned on the gold demonstrations of ``train_w2s``       [model]
  students      the strong model fine-tuned on the weak generations, per method               [model]
  evaluation    every model continues the ``test`` prompts; the gold judge (fit on the task's
                disjoint judge split) scores each continuation: P(positive)                   [stage]
PGR = (student - weak) / (ceiling - weak) on the gold judge's mean score, with the paired
hierarchical bootstrap of the classification runs. The students see the train_w2s prompts and the
teacher's words only: never a gold label, a gold demonstration or the gold judge (the choice of
prompts does not depend on their labels). Methods (`METHODS` below): ``sft`` (naive SFT),
``confident`` (keep the `keep` share of the teacher's continuations a weak judge, fit on
train_gt's human labels, scores highest) and ``rerank`` (the naive student samples `rerank_k`
continuations of each prompt, the weak judge picks one, a fresh student is fine-tuned on those).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from .. import assets
from ..config import content_hash, non_empty_unique
from ..data import Dataset, SplitSizes, fingerprint, get_task, make_splits
from ..errors import ConfigError
from ..judges import ClassifierJudge, fluency
from ..metrics import PGRAnalysis
from ..models import LMPretrainConfig
from ..registry import Registry
from ..runconfig import RunConfig
from ..store import Store, atomic_write_json
from .samples import cached_samples
from .sft import RECORD, SFTSettings, require_causal_lm, sft, truncated

METHODS: Registry[Callable] = Registry("generation method")


class TeachConfig(RunConfig):
    """Weak teacher -> strong student on a generation task (``superalign run --task sentiment_continuation``)."""

    task: str = "sentiment_continuation"
    # One seed by default: a seed takes ~15 min on 2 CPU cores; --seeds 0,1,2 adds the spread over seeds.
    seeds: list[int] = Field(default_factory=lambda: [0])
    weak: str = Field("smollm2@8", description="weak teacher: NAME@k (NAME cut to k decoder layers) or a causal LM")
    strong: str = Field("smollm2", description="the strong student: smollm2, a causal-LM folder or a hub id")
    judge: str = Field("minilm", description="the gold judge's model, fit on the task's judge split")
    weak_judge: str = Field("static", description="the weak judge of confident / rerank, fit on train_gt labels")
    methods: list[str] = Field(default_factory=lambda: ["sft", "confident", "rerank"])
    sft: SFTSettings = Field(default_factory=SFTSettings)
    temperature: float = Field(0.7, gt=0, description="sampling temperature of every generation")
    max_new_tokens: int = Field(24, ge=1)
    keep: float = Field(0.5, gt=0, le=1, description="confident: share of the teacher's continuations kept")
    rerank_k: int = Field(4, ge=2, description="rerank: samples per prompt the weak judge chooses among")
    sizes: SplitSizes = Field(default_factory=lambda: SplitSizes(train_gt=128, train_w2s=128, val=1, test=64))
    heal: LMPretrainConfig = Field(
        default_factory=lambda: LMPretrainConfig(enabled=True),
        description="heal the weak teacher before its SFT: LM training on unlabelled sentences of the task's "
        "pool outside every split (a cut NAME@k model's head expects its last layer's representations); "
        "on by default, heal.enabled=false skips it",
    )

    def hash(self) -> str:
        """The run's identity; healing enters it only when enabled (older runs keep their hash)."""
        return content_hash(self, exclude=None if self.heal.enabled else {"heal"})

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        return non_empty_unique([METHODS.check(m) for m in v])


def model_folder(spec: str, root: Path) -> str:
    """A causal-LM folder for `spec`: a ladder asset (``smollm2``), ``NAME@k`` (cut to k layers), a folder, a hub id."""
    from ..llm.local import resolve_source

    name, _, layers = spec.partition("@")
    source = str(assets.model_folder(name)) if name in assets.ASSETS else resolve_source(name)
    if not layers:
        return source
    if not layers.isdigit():
        raise ConfigError(f"model {spec!r}: the part after @ must be a number of decoder layers")
    return str(truncated(source, int(layers), root))


@dataclass
class SeedContext:
    """What a method may use: the train_w2s prompts, the teacher's continuations, a way to fine-tune
    the strong model, its sampler and the weak judge. No gold label, demonstration or gold judge."""

    cfg: TeachConfig
    seed: int
    prompts: list[str]
    weak_labels: list[str]
    fit: Callable[[str, list[str], list[str]], str]  # (name, prompts, completions) -> folder
    sample: Callable[[str, list[str], int], list[list[str]]]  # (folder, prompts, n) -> continuations
    weak_judge: ClassifierJudge


@METHODS.register("sft")
def naive_sft(ctx: SeedContext) -> str:
    """Naive SFT: fine-tune the strong model on every continuation of the weak teacher."""
    return ctx.fit("sft", ctx.prompts, ctx.weak_labels)


@METHODS.register("confident")
def confident(ctx: SeedContext) -> str:
    """Keep the `keep` share of the teacher's continuations the weak judge scores highest, fine-tune on those."""
    score = ctx.weak_judge.score(ctx.prompts, ctx.weak_labels)
    top = np.argsort(-score, kind="stable")[: max(1, round(ctx.cfg.keep * len(score)))]
    return ctx.fit("confident", [ctx.prompts[i] for i in top], [ctx.weak_labels[i] for i in top])


@METHODS.register("rerank")
def rerank(ctx: SeedContext) -> str:
    """The naive student samples `rerank_k` continuations per prompt; the weak judge picks one; a
    fresh strong model is fine-tuned on the picks (one round of best-of-k self-training)."""
    samples = ctx.sample(naive_sft(ctx), ctx.prompts, ctx.cfg.rerank_k)
    k = ctx.cfg.rerank_k
    score = ctx.weak_judge.score([p for p in ctx.prompts for _ in range(k)], [s for row in samples for s in row])
    best = score.reshape(len(ctx.prompts), k).argmax(1)
    return ctx.fit("rerank", ctx.prompts, [row[j] for row, j in zip(samples, best)])


def _demos(task: Any, ds: Any) -> tuple[list[str], list[str]]:
    """Gold demonstrations: prompt and human continuation of the positively rated texts of `ds`."""
    pairs = [task.prompt_and_continuation(t) for t, y in zip(ds.texts, ds.labels) if y == 1]
    return [p for p, _ in pairs], [c for _, c in pairs]


def unlabelled_outside(data: Dataset, splits: Any, n: int, seed: int) -> list[str]:
    """Up to `n` texts of the task's pool that are in no split of this seed (no label kept)."""
    used = {t for ds in (splits.train_gt, splits.train_w2s, splits.val, splits.test) for t in ds.texts}
    rest = [t for t in dict.fromkeys(data.texts) if t not in used]
    pick = np.random.default_rng(seed).permutation(len(rest))[: n or len(rest)]
    return [rest[i] for i in sorted(pick)]


def healed(folder: str, texts: list[str], heal: LMPretrainConfig, seed: int, store: Store) -> str:
    """`folder` after LM training on `texts` (`models.lmtune`), saved once under the store, keyed
    by the model's training record, the settings, the seed and the texts."""
    record = Path(folder, RECORD)
    identity = record.read_text() if record.exists() else folder
    key = fingerprint("heal", identity, heal.key(), seed, texts)
    out = store.checkpoint_dir(key) / "model"
    if not (out / "config.json").exists():
        from ..models.lmtune import lm_pretrain  # imports torch

        lm_pretrain(folder, texts, out, heal, seed)
        (out / RECORD).write_text(f"heal:{key}")
    return str(out)


def run_seed(
    cfg: TeachConfig, task: Any, data: Dataset, seed: int, store: Store, judge: ClassifierJudge
) -> dict[str, Any]:
    """One seed: the teacher, the ceiling and each method's student, each scored on the test prompts."""
    from ..llm import TransformersPolicy

    splits = make_splits(data, cfg.split_sizes(task).model_dump(), seed=seed, data_seed=cfg.data_seed)
    root = store.root / "models"
    strong = require_causal_lm(model_folder(cfg.strong, root))
    weak_base = require_causal_lm(model_folder(cfg.weak, root))

    def fit(base: str, name: str, prompts: list[str], completions: list[str]) -> str:
        key = fingerprint("sft-model", base, name, cfg.sft.model_dump(exclude={"device"}), seed, prompts, completions)
        return str(sft(base, prompts, completions, cfg.sft, seed, store.checkpoint_dir(key)))

    def sample(folder: str, prompts: list[str], n: int) -> list[list[str]]:
        identity = f"{folder}:{Path(folder, RECORD).read_text()}"  # the weights, by what they were trained on
        return cached_samples(
            store,
            TransformersPolicy(folder),
            identity,
            prompts,
            n,
            seed=seed,
            temperature=cfg.temperature,
            max_new_tokens=cfg.max_new_tokens,
        )[0]

    if cfg.heal.enabled:
        weak_base = healed(weak_base, unlabelled_outside(data, splits, cfg.heal.max_texts, seed), cfg.heal, seed, store)
    teacher = fit(weak_base, "teacher", *_demos(task, splits.train_gt))
    prompts = [task.prompt_and_continuation(t)[0] for t in splits.train_w2s.texts]
    weak_labels = [row[0] for row in sample(teacher, prompts, 1)]
    models = {"weak": teacher, "ceiling": fit(strong, "ceiling", *_demos(task, splits.train_w2s))}
    weak_judge = ClassifierJudge(cfg.factory(cfg.weak_judge), seed).fit(splits.train_gt)
    ctx = SeedContext(cfg, seed, prompts, weak_labels, lambda name, p, c: fit(strong, name, p, c), sample, weak_judge)
    for m in cfg.methods:
        models[m] = METHODS.get(m)(ctx)
    test_prompts = [task.prompt_and_continuation(t)[0] for t in splits.test.texts]
    outputs = {name: [row[0] for row in sample(folder, test_prompts, 1)] for name, folder in models.items()}
    scores = {name: judge.score(test_prompts, texts) for name, texts in outputs.items()}
    return {"prompts": test_prompts, "outputs": outputs, "scores": scores, "reference": strong}


def run_teach(cfg: TeachConfig, store: Store | None = None) -> dict[str, Any]:
    """Run (or resume) setting A for every seed; the summary goes to ``<store>/<hash>/summary.json``."""
    from ..llm import TransformersPolicy

    store = store or Store()
    task = get_task(cfg.task, **cfg.task_args)
    if task.kind != "generation":
        raise ConfigError(f"setting A needs a generation task; {cfg.task!r} is a {task.kind} task")
    judge = ClassifierJudge(cfg.factory(cfg.judge), cfg.data_seed).fit(task.judge_data())
    before = len(store.computed)
    data = task.load()
    per_seed = [run_seed(cfg, task, data, seed, store, judge) for seed in cfg.seeds]
    reference = TransformersPolicy(per_seed[0]["reference"])  # the strong model before fine-tuning
    summary = summarize_teach(cfg, per_seed, reference)
    summary["computed"] = len(store.computed) - before
    atomic_write_json(store.run_dir(cfg.hash()) / "summary.json", summary)
    return summary


def summarize_teach(cfg: TeachConfig, per_seed: list[dict], reference: Any) -> dict[str, Any]:
    """Gold judge scores and PGR [95% CI] of the teacher, the ceiling and each student, and fluency."""
    correct = {name: [s["scores"][name] for s in per_seed] for name in per_seed[0]["scores"]}
    pgr = PGRAnalysis(correct, n_boot=cfg.n_bootstrap, min_gap=cfg.min_gap, seed=cfg.data_seed)
    prompts = [p for s in per_seed for p in s["prompts"]]

    def guard(name: str) -> dict[str, float]:
        return fluency(reference, prompts, [t for s in per_seed for t in s["outputs"][name]])

    methods = {
        m: {"score": pgr.score(m).to_dict(), "pgr": pgr.pgr(m).to_dict(), "fluency": guard(m)} for m in cfg.methods
    }
    for m in cfg.methods:
        if m != "sft" and "sft" in cfg.methods:
            methods[m]["pgr_vs_sft"] = pgr.pgr_diff(m, "sft").to_dict()
    return {
        "task": cfg.task,
        "setting": "weak_teacher",
        "weak": cfg.weak,
        "strong": cfg.strong,
        "judge": cfg.judge,
        "seeds": list(cfg.seeds),
        "metric": "judge_score",
        "config_hash": cfg.hash(),
        "weak_score": pgr.score("weak").to_dict(),
        "ceiling_score": pgr.score("ceiling").to_dict(),
        "gap": pgr.gap().to_dict(),
        "weak_fluency": guard("weak"),
        "ceiling_fluency": guard("ceiling"),
        "methods": methods,
    }
