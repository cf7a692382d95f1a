"""The generative loop's summary: every objective per round with a 95% CI (paired hierarchical
bootstrap over seeds and held-out requests, as in the classification runs), never averaged into one."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..metrics import PGRAnalysis


def _per_round(vectors: list[list[list[bool]]], n_boot: int, seed: int) -> list[dict[str, Any]]:
    """vectors[seed][round] -> per round: the rate [CI] and its paired change from round 0 [CI]."""
    rounds = len(vectors[0])
    correct = {"weak": [np.array(v[0], dtype=bool) for v in vectors]}
    correct |= {f"r{r}": [np.array(v[r], dtype=bool) for v in vectors] for r in range(rounds)}
    if min(len(c) for c in correct["weak"]) == 0:
        return [{"rate": None, "vs_round0": None} for _ in range(rounds)]
    a = PGRAnalysis(correct, n_boot=n_boot, seed=seed)
    return [{"rate": a.score(f"r{r}").to_dict(), "vs_round0": a.diff(f"r{r}", "weak").to_dict()} for r in range(rounds)]


def summarize_red_team(cfg: Any, per_seed: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """ASR per attacker, over-refusal, harmful compliance and correct behaviour per round, with CIs;
    human labels spent; preference pairs trained on; the self-play attacker's training-round ASR."""
    evals = [[rec["eval"] for rec in seed] for seed in per_seed]
    metrics = {
        f"asr_{name}": _per_round([[e["asr"][name] for e in s] for s in evals], cfg.n_bootstrap, cfg.data_seed)
        for name in cfg.attackers
    }
    for key in ("over_refusal", "harmful_compliance", "correct"):
        metrics[key] = _per_round([[e[key] for e in s] for s in evals], cfg.n_bootstrap, cfg.data_seed)
    train_asr = {
        name: [
            float(np.mean([q["meta"]["complied"] for s in per_seed for q in s[r]["queries"] if q["attacker"] == name]))
            if r > 0
            else None
            for r in range(cfg.rounds + 1)
        ]
        for name in cfg.attackers
    }
    return {
        "task": cfg.task,
        "setting": "red_team_loop",
        "learner": cfg.learner,
        "critic": cfg.critic,
        "attackers": list(cfg.attackers),
        "train": cfg.train,
        "human_budget": cfg.human_budget,
        "selection": cfg.selection,
        "seeds": list(cfg.seeds),
        "rounds": cfg.rounds,
        "config_hash": cfg.hash(),
        "metric": "correct_behaviour",
        "metrics": metrics,
        "human_spent": [max(s[r]["human_spent"] for s in per_seed) for r in range(cfg.rounds + 1)],
        "verdicts_unparseable": [
            sum(v["status"] == "unparseable" for s in per_seed for v in s[r]["verdicts"]) for r in range(cfg.rounds + 1)
        ],
        "train_asr": train_asr,
    }
