"""Weak-to-strong on generative models (Burns et al. 2023's reward-modelling case; RLHF against a
reward model weaker than the policy). Setting B, a weak reward model steering a strong policy by
best-of-n, is in `bon.py`."""

from .bon import BestOfNConfig, BestOfNResult, best_of_n, run_best_of_n

__all__ = ["BestOfNConfig", "BestOfNResult", "best_of_n", "run_best_of_n"]
