"""The budgeted human expert and the policy that decides which items deserve one.

`HumanOracle` simulates a human expert with held-out gold labels: it answers only queries
derived from items it holds gold for, spends one unit of budget per answer, refuses any request
that would exceed the budget (answering nothing of it), and logs every request, refusals included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..metrics import margin_uncertainty
from ..registry import Registry
from .types import OversightError, Query, Verdict


class BudgetExceeded(OversightError):
    """The human oracle was asked for more labels than its budget has left."""


class HumanOracle:
    """Gold labels for pool items, at most `budget` of them, every request logged."""

    def __init__(self, gold: dict[str, int], budget: int):
        if budget < 0:
            raise OversightError(f"human budget must be >= 0, got {budget}")
        self._gold = dict(gold)
        self.budget = budget
        self.spent = 0
        self.log: list[dict[str, Any]] = []

    @property
    def remaining(self) -> int:
        return self.budget - self.spent

    def can_answer(self, q: Query) -> bool:
        return q.source is not None and q.source in self._gold

    def label(self, items: Sequence[Query], round: int = 0) -> list[int]:
        """Gold labels of `items` (each costs one unit), or a refusal that answers none of them."""
        items = list(items)
        unknown = [q.id for q in items if not self.can_answer(q)]
        if unknown or len(items) > self.remaining:
            why = (
                f"no gold label for {unknown[:3]}"
                if unknown
                else f"asked {len(items)} labels, {self.remaining} left of {self.budget}"
            )
            self.log.extend(
                {"round": round, "id": q.id, "source": q.source, "answered": False, "reason": why} for q in items
            )
            if unknown:
                raise OversightError(f"the human oracle cannot label queries without a gold source: {unknown[:3]}")
            raise BudgetExceeded(f"human budget exceeded: {why}")
        labels = [self._gold[q.source] for q in items]  # type: ignore[index]
        self.spent += len(items)
        self.log.extend(
            {"round": round, "id": q.id, "source": q.source, "answered": True, "label": y}
            for q, y in zip(items, labels)
        )
        return labels

    def restore(self, entries: Sequence[dict[str, Any]]) -> None:
        """Replay a saved log (resuming a loop): the spent budget follows the answered entries."""
        self.log.extend(entries)
        self.spent += sum(1 for e in entries if e.get("answered"))
        if self.spent > self.budget:
            raise BudgetExceeded(f"a restored log spends {self.spent} labels of a budget of {self.budget}")


# --- selection policies: which queries a human should label ------------------------------------

Policy = Callable[[np.ndarray, Sequence[Verdict], np.random.Generator], np.ndarray]  # -> scores

POLICIES: Registry[Policy] = Registry("selection policy", error=OversightError)


def _critic_probs(verdicts: Sequence[Verdict]) -> np.ndarray:
    return np.array([v.probs for v in verdicts], dtype=np.float64)


@POLICIES.register("disagreement")
def disagreement_policy(learner_probs: np.ndarray, verdicts: Sequence[Verdict], rng: np.random.Generator) -> np.ndarray:
    """Critic-learner disagreement (total variation) x critic uncertainty (1 - its margin).

    An unparseable verdict is maximally uncertain.
    """
    c = _critic_probs(verdicts)
    disagree = 0.5 * np.abs(learner_probs - c).sum(1)
    return disagree * margin_uncertainty(c)


@POLICIES.register("uncertainty")
def uncertainty_policy(learner_probs: np.ndarray, verdicts: Sequence[Verdict], rng: np.random.Generator) -> np.ndarray:
    """The learner's own uncertainty (1 - margin between its top two classes)."""
    return margin_uncertainty(learner_probs)


@POLICIES.register("critic_uncertainty")
def critic_uncertainty_policy(
    learner_probs: np.ndarray, verdicts: Sequence[Verdict], rng: np.random.Generator
) -> np.ndarray:
    """The critic's uncertainty (1 - its margin), whatever the learner did: label where the scalable
    feedback is least sure (uncertainty sampling, Lewis & Gale 1994, on the critic)."""
    return margin_uncertainty(_critic_probs(verdicts))


@POLICIES.register("random")
def random_policy(learner_probs: np.ndarray, verdicts: Sequence[Verdict], rng: np.random.Generator) -> np.ndarray:
    """Uniformly random (the baseline every policy should beat)."""
    return rng.random(len(learner_probs))


def select_for_human(
    policy: str,
    queries: Sequence[Query],
    learner_probs: np.ndarray,
    verdicts: Sequence[Verdict],
    k: int,
    oracle: HumanOracle,
    rng: np.random.Generator,
    exclude: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[int]:
    """Indices of the (at most) `k` best queries by `policy` that the oracle can answer.

    Queries whose source is in `exclude` (already labelled) are skipped, and so is a second
    query from the same source in this batch: one label per source item is enough.
    """
    score_fn = POLICIES.get(policy)
    k = min(k, oracle.remaining)
    if k <= 0 or not queries:
        return []
    score = score_fn(learner_probs, verdicts, rng) + 1e-9 * rng.random(len(queries))
    chosen, sources = [], set(exclude)
    for i in np.argsort(-score, kind="stable"):
        q = queries[int(i)]
        if oracle.can_answer(q) and q.source not in sources:
            chosen.append(int(i))
            sources.add(q.source)
            if len(chosen) == k:
                break
    return chosen
