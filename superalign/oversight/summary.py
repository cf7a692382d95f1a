"""Round metrics and the loop's summary: accuracy, gains and PGR with paired bootstrap CIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import PGRAnalysis, ece, evaluate
from .config import LoopConfig
from .rounds import LoopState
from .types import Query, Verdict


@dataclass
class RoundData:
    """What one round put to the learner, the critic and the human."""

    r: int
    queries: list[Query] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    learner_probs: np.ndarray | None = None  # the learner's answers to `queries` (None in round 0)
    human: list[dict[str, Any]] = field(default_factory=list)


def round_metrics(
    data: RoundData,
    state: LoopState,
    probs: np.ndarray,
    labels: np.ndarray,
    critic_test: np.ndarray,
    pool_gold: dict[str, int],
) -> dict[str, Any]:
    """Round `data.r`'s metrics: the learner's test scores, the critic as it is now, the critic and
    the learner on the round's queries with a gold source, query counts, and the budget spent."""
    m: dict[str, Any] = {"round": data.r, **evaluate(probs, labels, critic_test)}
    m["agreement_with_critic"] = m.pop("agreement")
    m["critic_test_acc"] = float((critic_test.argmax(1) == labels).mean())  # the critic as it is now
    queries = data.queries
    with_gold = [i for i, q in enumerate(queries) if q.source in pool_gold]
    if with_gold:
        y = np.array([pool_gold[queries[i].source] for i in with_gold])  # type: ignore[index]
        cp = np.array([data.verdicts[i].probs for i in with_gold])
        m["critic_on_queries"] = {"acc": float((cp.argmax(1) == y).mean()), "ece": ece(cp, y), "n": len(with_gold)}
        assert data.learner_probs is not None
        m["learner_on_queries_acc"] = float((data.learner_probs[with_gold].argmax(1) == y).mean())
    m["queries"] = {name: sum(q.attacker == name for q in queries) for name in sorted({q.attacker for q in queries})}
    m["unparseable"] = sum(v.status == "unparseable" for v in data.verdicts)
    m["human_new"], m["human_spent"], m["human_budget"] = len(data.human), state.oracle.spent, state.oracle.budget
    m["feedback"] = state.ledger.counts()
    return m


def summarize_loop(cfg: LoopConfig, seeds: Sequence[Any], metric: str = "accuracy") -> dict[str, Any]:
    """Accuracy, the task's primary `metric` (``score``), and on it the gain over naive W2S and PGR
    per round (floor = naive W2S on critic labels), with paired bootstrap CIs over seeds x test
    examples (`seeds`: `SeedLoop` results). For accuracy tasks ``score`` equals ``acc``."""
    correct: dict[str, list[np.ndarray]] = {
        "weak": [s.naive_probs.argmax(1) == s.test_labels for s in seeds],
        "ceiling": [s.ceiling_probs.argmax(1) == s.test_labels for s in seeds],
        "critic": [s.critic_test_probs.argmax(1) == s.test_labels for s in seeds],
    }
    for r in range(cfg.rounds + 1):
        correct[f"round_{r}"] = [s.test_probs[r].argmax(1) == s.test_labels for s in seeds]
    boot = dict(n_boot=cfg.n_bootstrap, min_gap=cfg.min_gap, seed=cfg.data_seed, labels=[s.test_labels for s in seeds])
    acc = PGRAnalysis(correct, **boot)
    pgr = acc if metric == "accuracy" else PGRAnalysis(correct, metric=metric, **boot)
    rounds = []
    for r in range(cfg.rounds + 1):
        per_seed = [s.rounds[r] for s in seeds]
        attack = {
            name: float(np.mean([m["attack"][name]["success"] for m in per_seed])) for name in per_seed[0]["attack"]
        }
        cq = [m["critic_on_queries"]["acc"] for m in per_seed if "critic_on_queries" in m]
        rounds.append(
            {
                "round": r,
                "acc": acc.score(f"round_{r}").to_dict(),
                "score": pgr.score(f"round_{r}").to_dict(),
                "pgr": pgr.pgr(f"round_{r}").to_dict(),
                "gain_vs_naive": pgr.diff(f"round_{r}", "weak").to_dict(),
                "gain_vs_round0": pgr.diff(f"round_{r}", "round_0").to_dict(),
                "attack_success": attack,
                "critic_acc_on_queries": float(np.mean(cq)) if cq else None,
                "human_spent": float(np.mean([m["human_spent"] for m in per_seed])),
                "critic_test_acc": float(np.mean([m["critic_test_acc"] for m in per_seed])),
                "ece": float(np.mean([m["ece"] for m in per_seed])),
            }
        )
    critic_ece = float(np.mean([ece(s.critic_test_probs, s.test_labels) for s in seeds]))
    critic = f"weak({'+'.join(cfg.critic_models)})" if cfg.critic == "weak" else cfg.critic
    return {
        "task": cfg.task,
        "critic": critic,
        "learner": cfg.learner,
        "loss": cfg.loss,
        "attackers": list(cfg.attackers),
        "human_budget": cfg.human_budget,
        "policy": cfg.policy,
        "seeds": list(cfg.seeds),
        "config_hash": cfg.hash(),
        "metric": metric,
        "critic_acc": acc.score("critic").to_dict(),
        "critic_ece": critic_ece,
        "floor_acc": acc.score("weak").to_dict(),
        "ceiling_acc": acc.score("ceiling").to_dict(),
        "critic_score": pgr.score("critic").to_dict(),
        "floor_score": pgr.score("weak").to_dict(),
        "ceiling_score": pgr.score("ceiling").to_dict(),
        "gap": pgr.gap().to_dict(),
        "rounds": rounds,
    }
