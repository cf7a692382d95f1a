"""The human oracle never exceeds its budget, refuses atomically, and logs every request."""

import numpy as np
import pytest

from superalign.oversight import BudgetExceeded, HumanOracle, OversightError, Query


def items(ids, source=True):
    return [Query(f"q{i}", f"text {i}", f"pool:{i}" if source else None, "pool") for i in ids]


GOLD = {f"pool:{i}": i % 2 for i in range(100)}


def test_answers_gold_and_spends_one_per_label():
    o = HumanOracle(GOLD, budget=5)
    assert o.label(items([1, 2, 3])) == [1, 0, 1]
    assert o.spent == 3 and o.remaining == 2
    assert [e["answered"] for e in o.log] == [True] * 3 and o.log[0]["label"] == 1


def test_refuses_past_budget_without_answering_anything():
    o = HumanOracle(GOLD, budget=4)
    o.label(items([0, 1, 2]))
    with pytest.raises(BudgetExceeded, match="asked 2 labels, 1 left of 4"):
        o.label(items([3, 4]))
    assert o.spent == 3 and len(o.log) == 5 and [e["answered"] for e in o.log[3:]] == [False, False]
    assert o.label(items([5])) == [1] and o.remaining == 0
    with pytest.raises(BudgetExceeded):
        o.label(items([6]))


def test_never_exceeds_budget_under_random_requests():
    rng = np.random.default_rng(0)
    for budget in [0, 1, 7, 50]:
        o = HumanOracle(GOLD, budget)
        for _ in range(200):
            ask = items(rng.integers(0, 100, rng.integers(0, 6)))
            try:
                assert o.label(ask) == [GOLD[q.source] for q in ask]
            except BudgetExceeded:
                pass
            assert 0 <= o.spent <= budget
        assert o.spent == sum(e["answered"] for e in o.log) <= budget
        assert len(o.log) > o.spent or budget == 0 or o.spent < budget  # refusals were logged too


def test_cannot_label_text_without_gold_and_logs_the_refusal():
    o = HumanOracle(GOLD, budget=10)
    gen = [Query("gen:1", "new text", None, "generative")]
    assert not o.can_answer(gen[0])
    with pytest.raises(OversightError, match="without a gold source"):
        o.label(gen)
    assert o.spent == 0 and o.log[-1]["answered"] is False


def test_restore_replays_spending_and_rejects_an_overspent_log():
    o = HumanOracle(GOLD, budget=3)
    o.label(items([1, 2]))
    again = HumanOracle(GOLD, budget=3)
    again.restore(o.log)
    assert again.spent == 2 and again.remaining == 1
    with pytest.raises(BudgetExceeded):
        HumanOracle(GOLD, budget=1).restore(o.log)
    with pytest.raises(OversightError):
        HumanOracle(GOLD, budget=-1)
