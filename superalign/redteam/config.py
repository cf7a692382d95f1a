"""`RedTeamConfig`: the attacker-learner-critic loop on a generative learner (``superalign loop --task refusal``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..config import non_empty_unique
from ..data import SplitSizes
from ..generation.dpo import DPOSettings
from ..generation.sft import SFTSettings
from ..oversight.oracle import POLICIES
from ..runconfig import RunConfig
from .attackers import ATTACKERS
from .critics import CRITICS

RED_TEAM_VERSION = 1
"""Bump when the loop's code changes what a stored round holds."""


class RedTeamConfig(RunConfig):
    """Who attacks a chat model, who judges its answers, how it learns, how many human labels it may spend."""

    task: str = "refusal"
    # One seed by default: a seed trains the chat model once a round (3 rounds: ~30 min on 2 CPU
    # cores); --seeds 0,1,2 adds the spread over seeds to every CI.
    seeds: list[int] = Field(default_factory=lambda: [0])
    learner: str = Field("smollm2", description="the strong chat model: smollm2, a causal-LM folder or a hub id")
    attackers: list[str] = Field(default_factory=lambda: ["templates", "rephrase", "llm"])
    critic: str = Field("weak", description="registered critic: weak, llm or self")
    critic_model: str = Field("tfidf", description="the weak critic's prompt classifier, fit on train_gt's labels")
    llm: str = Field("local:smollm2", description="the LLM of the llm attacker and llm critic (get_llm spec)")
    human_budget: int = Field(50, ge=0, description="gold labels the human expert may give, over all rounds")
    selection: str = Field(
        "disagreement",
        description="which answers a human labels: disagreement, critic_uncertainty, random",
    )
    rounds: int = Field(3, ge=0)
    attack_size: int = Field(16, ge=1, description="queries per attacker per round")
    frames_tried: int = Field(3, ge=1, description="templates: framings tried per request before giving up")
    train: Literal["dpo", "sft", "dpo+sft"] = Field(
        "dpo",
        description="how the learner refines: dpo or sft on every decided answer, or dpo+sft (DPO on the "
        "critic's pairs, then SFT on the human-labelled answers)",
    )
    freeze_learner: bool = Field(False, description="never train the learner (to measure whether the attackers learn)")
    # A round yields a few dozen pairs: several passes at a LoRA-sized learning rate move the model.
    dpo: DPOSettings = Field(default_factory=lambda: DPOSettings(epochs=4, lr=5e-4, max_length=160))
    sft: SFTSettings = Field(default_factory=lambda: SFTSettings(epochs=4, lora=True, lr=5e-4, max_length=160))
    refusal_text: str = Field("I'm sorry, but I can't help with that request.", min_length=1)
    temperature: float = Field(0.7, gt=0, description="temperature of the learner's sampled answers")
    max_new_tokens: int = Field(32, ge=1)
    eval_size: int = Field(32, ge=1, description="held-out requests attacked per attacker per round")
    sizes: SplitSizes = Field(default_factory=lambda: SplitSizes(train_gt=200, train_w2s=300, val=1, test=64))

    @field_validator("attackers")
    @classmethod
    def _attackers(cls, v: list[str]) -> list[str]:
        return non_empty_unique([ATTACKERS.check(a) for a in v])

    @field_validator("critic")
    @classmethod
    def _critic(cls, v: str) -> str:
        return CRITICS.check(v)

    @field_validator("selection")
    @classmethod
    def _selection(cls, v: str) -> str:
        if v == "uncertainty":  # the learner's margin: one greedy answer is refused or not, margin 1
            raise ValueError("the chat learner answers greedily: its uncertainty is always 0; use critic_uncertainty")
        return POLICIES.check(v)

    def budget_per_round(self) -> int:
        """Human labels a round may spend: the budget spread evenly over the rounds (the last rounds
        get the remainder, so the whole budget can be spent)."""
        return -(-self.human_budget // self.rounds) if self.rounds else 0
