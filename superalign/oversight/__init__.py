"""Scalable oversight: the attacker-learner-critic loop with a budgeted human expert."""

from .attackers import GenerativeAttacker, PerturbationAttacker, PoolAttacker
from .critics import LLMCritic, WeakCritic, parse_verdict
from .learner import ClassifierLearner, FeedbackLedger
from .loop import LoopResult, SeedLoop, run_loop, run_seed_loop, summarize_loop
from .oracle import POLICIES, BudgetExceeded, HumanOracle, select_for_human
from .types import Attacker, Critic, Feedback, Learner, OversightError, Query, Verdict

__all__ = [
    "POLICIES", "Attacker", "BudgetExceeded", "ClassifierLearner", "Critic", "Feedback", "FeedbackLedger",
    "GenerativeAttacker", "HumanOracle", "LLMCritic", "Learner", "LoopResult", "OversightError", "PerturbationAttacker",
    "PoolAttacker", "Query", "SeedLoop", "Verdict", "WeakCritic", "parse_verdict", "run_loop", "run_seed_loop",
    "select_for_human", "summarize_loop",
]
