"""Scalable oversight: the attacker-learner-critic loop with a budgeted human expert."""

from .attackers import ATTACKERS, BaseAttacker, GenerativeAttacker, PerturbationAttacker, PoolAttacker
from .config import LoopConfig, PerturbConfig
from .critics import CRITICS, LLMCritic, WeakCritic, parse_verdict
from .learner import ClassifierLearner, FeedbackLedger
from .loop import LoopResult, SeedLoop, run_loop, run_seed_loop
from .oracle import POLICIES, BudgetExceeded, HumanOracle, select_for_human
from .summary import summarize_loop
from .types import (
    Attacker,
    AttackProbe,
    Critic,
    Feedback,
    Learner,
    OversightError,
    Query,
    RoleContext,
    TrainableCritic,
    Verdict,
)

__all__ = [
    "ATTACKERS",
    "CRITICS",
    "POLICIES",
    "AttackProbe",
    "Attacker",
    "BaseAttacker",
    "BudgetExceeded",
    "ClassifierLearner",
    "Critic",
    "Feedback",
    "FeedbackLedger",
    "GenerativeAttacker",
    "HumanOracle",
    "LLMCritic",
    "Learner",
    "LoopConfig",
    "LoopResult",
    "OversightError",
    "PerturbConfig",
    "PerturbationAttacker",
    "PoolAttacker",
    "Query",
    "RoleContext",
    "SeedLoop",
    "TrainableCritic",
    "Verdict",
    "WeakCritic",
    "parse_verdict",
    "run_loop",
    "run_seed_loop",
    "select_for_human",
    "summarize_loop",
]
