"""Setting B: a weak reward model steers a strong policy by best-of-n, scored by a gold judge.

Per seed, on the splits of a generation task:
  weak RM     a weak ladder model fit on the human labels of ``train_gt``         [stage]
  gold judge  the strongest judge model fit on the task's judge split (disjoint from every
              prompt and demonstration); it only evaluates                        [stage]
  samples     the policy samples ``max(ns)`` continuations of each ``test`` prompt [stage]
For each n, best-of-n under the weak RM picks, per prompt, the sample of the first n that the
weak RM scores highest; best-of-n under the gold judge picks the gold judge's favourite. Both are
scored by the gold judge. With base = the gold score of one sample (n = 1):
  PGR(n) = (gold(BoN weak RM, n) - base) / (gold(BoN gold judge, n) - base)
with the paired hierarchical bootstrap of the classification runs (seeds x test prompts). The
proxy's own score of its pick against the gold score of that pick, as n grows, is the
over-optimization curve (Gao et al. 2022, "Scaling laws for reward model overoptimization").
With ``dpo_steps``, the policy is also trained by DPO on each scorer's preference pairs (`steer.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..config import non_empty_unique
from ..data import Dataset, SplitSizes, fingerprint, get_task, make_splits
from ..errors import ConfigError
from ..judges import ClassifierJudge, fluency
from ..metrics import PGRAnalysis
from ..runconfig import RunConfig
from ..store import Store, atomic_write_json
from .dpo import DPOSettings
from .samples import cached_samples
from .steer import dpo_seed, summarize_dpo


class BestOfNConfig(RunConfig):
    """Best-of-n against a weak reward model and against the gold judge (``superalign best-of-n``)."""

    task: str = "sentiment_continuation"
    weak: str = Field("static", description="the weak reward model: a ladder model fit on train_gt's human labels")
    judge: str = Field("minilm", description="the gold judge's model, fit on the task's judge split")
    policy: str = Field("local:smollm2", description="the policy that samples: local[:PATH] or openai[:MODEL]")
    ns: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16], description="best-of-n sizes")
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(24, ge=1)
    sizes: SplitSizes = Field(default_factory=lambda: SplitSizes(train_gt=1000, train_w2s=1, val=1, test=64))
    dpo_steps: list[int] = Field(
        default_factory=list, description="also train the policy by DPO on each scorer's preferences, for these steps"
    )
    pair_samples: int = Field(4, ge=2, description="DPO: samples per train_w2s prompt the scorer ranks")
    dpo: DPOSettings = Field(default_factory=lambda: DPOSettings(lr=2e-4, max_length=64))

    @model_validator(mode="after")
    def _dpo_needs_prompts(self) -> BestOfNConfig:
        if self.dpo_steps and self.sizes.train_w2s < 8:
            raise ValueError("dpo_steps needs train_w2s prompts to build pairs from: set sizes.train_w2s >= 8")
        if self.dpo_steps and not self.policy.startswith("local"):
            raise ValueError("dpo_steps trains the policy: it must be a local model (policy local[:PATH])")
        return self

    @field_validator("dpo_steps")
    @classmethod
    def _steps(cls, v: list[int]) -> list[int]:
        if any(s < 1 for s in v):
            raise ValueError(f"every DPO step count must be >= 1, got {v}")
        return sorted(set(v))

    @field_validator("ns")
    @classmethod
    def _ns(cls, v: list[int]) -> list[int]:
        if any(n < 1 for n in v):
            raise ValueError(f"every n must be >= 1, got {v}")
        return sorted(non_empty_unique(v))


@dataclass
class BestOfNResult:
    config: BestOfNConfig
    summary: dict[str, Any]
    computed: list[str]


def best_of_n(proxy: np.ndarray, gold: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per prompt (rows of the (prompts, samples) score matrices), among the first `n` samples:
    the gold score of the proxy's pick, the gold score of the gold judge's pick, and the proxy's
    score of its own pick."""
    rows = np.arange(len(proxy))
    by_proxy, by_gold = proxy[:, :n].argmax(1), gold[:, :n].argmax(1)
    return gold[rows, by_proxy], gold[rows, by_gold], proxy[rows, by_proxy]


def _seed_scores(
    cfg: BestOfNConfig, task: Any, data: Dataset, seed: int, store: Store, judge: ClassifierJudge, policy: Any
) -> dict:
    """One seed's samples and their (prompts, samples) score matrices under the weak RM and the judge."""
    splits = make_splits(data, cfg.split_sizes(task).model_dump(), seed=seed, data_seed=cfg.data_seed)
    weak = ClassifierJudge(cfg.factory(cfg.weak), seed).fit(splits.train_gt)
    prompts = [task.prompt_and_continuation(t)[0] for t in splits.test.texts]
    n = max(cfg.ns)
    samples, key = cached_samples(
        store,
        policy,
        policy.key,
        prompts,
        n,
        seed=seed,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_new_tokens=cfg.max_new_tokens,
    )
    flat_p = [p for p in prompts for _ in range(n)]
    flat_s = [s for row in samples for s in row]
    scores = store.stage(
        fingerprint("bon-scores", key, weak.key, judge.key),
        lambda: {
            "proxy": weak.score(flat_p, flat_s).reshape(len(prompts), n),
            "gold": judge.score(flat_p, flat_s).reshape(len(prompts), n),
        },
    )
    out = {"prompts": prompts, "samples": samples, **scores}
    if cfg.dpo_steps:
        from .teach import model_folder

        folder = model_folder(cfg.policy.partition(":")[2] or "smollm2", store.root / "models")
        train = [task.prompt_and_continuation(t)[0] for t in splits.train_w2s.texts]
        out["dpo"] = dpo_seed(cfg, store, folder, train, prompts, seed, weak, judge)
    return out


def run_best_of_n(cfg: BestOfNConfig, store: Store | None = None, policy: Any = None) -> BestOfNResult:
    """Run (or resume) setting B for every seed and n; the summary goes to ``<store>/<hash>/summary.json``."""
    from ..llm import get_policy

    store = store or Store()
    before = len(store.computed)
    task = get_task(cfg.task, **cfg.task_args)
    if getattr(task, "kind", None) != "generation":
        raise ConfigError(f"best-of-n needs a generation task; {cfg.task!r} is a {task.kind} task")
    policy = policy if policy is not None else get_policy(cfg.policy)
    judge = ClassifierJudge(cfg.factory(cfg.judge), cfg.data_seed).fit(task.judge_data())
    data = task.load()
    per_seed = [_seed_scores(cfg, task, data, seed, store, judge, policy) for seed in cfg.seeds]
    summary = summarize_best_of_n(cfg, per_seed, policy)
    atomic_write_json(store.run_dir(cfg.hash()) / "summary.json", summary)
    return BestOfNResult(cfg, summary, store.computed[before:])


def summarize_best_of_n(cfg: BestOfNConfig, per_seed: list[dict], reference: Any) -> dict[str, Any]:
    """Gold score of best-of-n under each scorer, PGR per n with paired CIs, the proxy's view, and fluency."""
    rows = []
    base = [s["gold"][:, 0] for s in per_seed]
    for n in cfg.ns:
        picks = [best_of_n(s["proxy"], s["gold"], n) for s in per_seed]
        correct = {"weak": base, "ceiling": [g for _, g, _ in picks], "bon_weak": [w for w, _, _ in picks]}
        pgr = PGRAnalysis(correct, n_boot=cfg.n_bootstrap, min_gap=cfg.min_gap, seed=cfg.data_seed)
        chosen = [s["proxy"][:, :n].argmax(1) for s in per_seed]
        texts = [s["samples"][i][j] for s, c in zip(per_seed, chosen) for i, j in enumerate(c)]
        prompts = [p for s in per_seed for p in s["prompts"]]
        rows.append(
            {
                "n": n,
                "gold_bon_weak": pgr.score("bon_weak").to_dict(),
                "gold_bon_gold": pgr.score("ceiling").to_dict(),
                "proxy_bon_weak": float(np.mean([p.mean() for _, _, p in picks])),
                "pgr": pgr.pgr("bon_weak").to_dict(),
                "fluency_bon_weak": fluency(reference, prompts, texts),
            }
        )
    return {
        "task": cfg.task,
        "setting": "best_of_n",
        "weak": cfg.weak,
        "judge": cfg.judge,
        "policy": cfg.policy,
        "seeds": list(cfg.seeds),
        "metric": "judge_score",
        "config_hash": cfg.hash(),
        "base_score": PGRAnalysis({"weak": base, "ceiling": base}, n_boot=cfg.n_bootstrap).score("weak").to_dict(),
        "rows": rows,
        **({"dpo_rows": summarize_dpo(cfg, [s["dpo"] for s in per_seed])} if cfg.dpo_steps else {}),
    }
