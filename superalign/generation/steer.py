"""Setting B by DPO: a weak reward model's preferences train a strong policy (the RLHF case,
Rafailov et al. 2023), against the same training on the gold judge's preferences.

Per seed, for each scorer (the weak RM, fit on train_gt's human labels; the gold judge, fit on the
judge split), the policy samples `pair_samples` continuations of every train_w2s prompt [stage];
the scorer's favourite and least favourite sample of each prompt form a preference pair; the
policy is trained by DPO (TRL, LoRA) once, at a constant learning rate, and saved at each step
count of `dpo_steps` [model]; each saved policy continues the test prompts once [stage], scored by
the gold judge and by the weak RM.
  PGR(steps) = (gold(DPO on weak RM) - base) / (gold(DPO on gold judge) - base)
with base the untrained policy's gold score and the paired bootstrap of `bon.py`. The weak RM's
score of its policy's text against the gold score of that text, as steps grow, is the
over-optimization curve (Gao et al. 2022).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..judges import ClassifierJudge
from ..metrics import PGRAnalysis
from ..store import Store
from .dpo import dpo_checkpoints
from .samples import cached_samples
from .sft import RECORD


def preference_pairs(
    prompts: list[str], samples: list[list[str]], scores: np.ndarray
) -> tuple[list[str], list[str], list[str]]:
    """(prompt, chosen, rejected): each prompt's best- and worst-scored sample (ties left out)."""
    best, worst = scores.argmax(1), scores.argmin(1)
    keep = [i for i in range(len(prompts)) if scores[i, best[i]] > scores[i, worst[i]]]
    return [prompts[i] for i in keep], [samples[i][best[i]] for i in keep], [samples[i][worst[i]] for i in keep]


def dpo_seed(
    cfg: Any,
    store: Store,
    policy_folder: str,
    train_prompts: list[str],
    test_prompts: list[str],
    seed: int,
    weak: ClassifierJudge,
    judge: ClassifierJudge,
) -> dict[str, np.ndarray]:
    """Gold and proxy scores of the test continuations of every DPO-trained policy of one seed."""
    from ..llm import TransformersPolicy

    def sample(folder: str, prompts: list[str], n: int) -> list[list[str]]:
        record = Path(folder, RECORD)  # trained weights by what they were trained on
        identity = f"trained:{json.loads(record.read_text())['key']}" if record.exists() else f"base:{folder}"
        kw = {"seed": seed, "temperature": cfg.temperature, "top_p": cfg.top_p, "max_new_tokens": cfg.max_new_tokens}
        return cached_samples(store, TransformersPolicy(folder), identity, prompts, n, **kw)[0]

    samples = sample(policy_folder, train_prompts, cfg.pair_samples)
    flat_p = [p for p in train_prompts for _ in range(cfg.pair_samples)]
    flat_s = [s for row in samples for s in row]
    out: dict[str, np.ndarray] = {}
    base = [row[0] for row in sample(policy_folder, test_prompts, 1)]
    out["base_gold"], out["base_proxy"] = judge.score(test_prompts, base), weak.score(test_prompts, base)
    for name, scorer in (("weak", weak), ("gold", judge)):
        scores = scorer.score(flat_p, flat_s).reshape(len(train_prompts), cfg.pair_samples)
        pairs = preference_pairs(train_prompts, samples, scores)
        folders = dpo_checkpoints(policy_folder, *pairs, cfg.dpo, seed, cfg.dpo_steps, store.checkpoint_dir)
        for steps in cfg.dpo_steps:
            texts = [row[0] for row in sample(str(folders[steps]), test_prompts, 1)]
            out[f"{name}_{steps}_gold"], out[f"{name}_{steps}_proxy"] = (
                judge.score(test_prompts, texts),
                weak.score(test_prompts, texts),
            )
    return out


def summarize_dpo(cfg: Any, per_seed: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Per step count: gold score of DPO on the weak RM and on the gold judge [95% CI], PGR, the proxy's view."""
    rows = []
    base = [s["base_gold"] for s in per_seed]
    for steps in cfg.dpo_steps:
        correct = {"weak": base, "ceiling": [s[f"gold_{steps}_gold"] for s in per_seed]}
        correct["dpo_weak"] = [s[f"weak_{steps}_gold"] for s in per_seed]
        pgr = PGRAnalysis(correct, n_boot=cfg.n_bootstrap, min_gap=cfg.min_gap, seed=cfg.data_seed)
        rows.append(
            {
                "steps": steps,
                "gold_dpo_weak": pgr.score("dpo_weak").to_dict(),
                "gold_dpo_gold": pgr.score("ceiling").to_dict(),
                "proxy_dpo_weak": float(np.mean([s[f"weak_{steps}_proxy"].mean() for s in per_seed])),
                "pgr": pgr.pgr("dpo_weak").to_dict(),
            }
        )
    return rows
