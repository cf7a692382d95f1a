"""Weak-to-strong on generative models (Burns et al. 2023; Ye et al.'s W2S-beyond-accuracy pilot,
yeruimeng/WTS; RLHF against a reward model weaker than the policy).

Setting A (`teach.py`): a weak teacher LM's continuations fine-tune a strong student LM (TRL SFT,
`sft.py`); on ``refusal`` (`refuse.py`) a weak prompt classifier decides what the strong chat
model is taught to refuse. Setting B (`bon.py`): a weak reward model steers a strong policy by best-of-n. Both are
scored by a gold judge that never supervises (`superalign.judges`).
"""

from .bon import BestOfNConfig, BestOfNResult, best_of_n, run_best_of_n
from .refuse import REFUSAL_METHODS, RefuseConfig, run_refuse
from .teach import METHODS, TeachConfig, run_teach

__all__ = [
    "METHODS",
    "REFUSAL_METHODS",
    "BestOfNConfig",
    "BestOfNResult",
    "RefuseConfig",
    "TeachConfig",
    "best_of_n",
    "run_best_of_n",
    "run_refuse",
    "run_teach",
]
