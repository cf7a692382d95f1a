"""`LoopConfig`: the attacker-learner-critic loop (``superalign loop``)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import content_hash, non_empty_unique
from ..data import SplitSizes
from ..runconfig import RunConfig
from .attackers import ATTACKERS
from .critics import CRITICS
from .oracle import POLICIES

ROUNDS_VERSION = 2
"""Bump when the loop's code changes what a stored round holds (2: rounds seeded per loop seed for LLM roles)."""


class PerturbConfig(BaseModel):
    """The perturbation attacker's search budget (see superalign/oversight/perturb.py)."""

    model_config = ConfigDict(extra="forbid")
    max_edits: int = Field(3, ge=1, description="edits per text")
    max_words: int = Field(8, ge=1, description="most important words tried")
    n_char: int = Field(2, ge=0, description="character-noise variants tried per word")
    max_queries: int = Field(120, ge=2, description="learner calls per attacked text")


class LoopConfig(RunConfig):
    """The attacker-learner-critic loop (superalign/oversight): who attacks, who judges, who learns,
    how many human labels it may spend, for how many rounds."""

    label_names: list[str] | None = Field(None, description="class names for LLM prompts (default: the task's)")
    critic: str = Field("weak", description="registered critic: weak (weak ladder models fit on train_gt) or llm")
    critic_models: list[str] = Field(
        default_factory=lambda: ["tfidf", "static"], description="weak critic ensemble, fit on train_gt"
    )
    learner: str = Field(
        "minilm", description="the strong model: a probe on this encoder, or fine-tuned with mode finetune"
    )
    mode: Literal["probe", "finetune"] = Field(
        "probe",
        description="the learner (and its baselines): probe = a head on frozen features; "
        "finetune = fine-tuned (full or LoRA)",
    )
    loss: str = "logconf"
    loss_params: dict[str, Any] = Field(default_factory=dict)
    spelling: Literal["off", "corpus", "english"] = Field(
        "off",
        description="the learner and its naive / ceiling baselines read text through a word-recognition front-end "
        "that undoes character noise (Pruthi et al. 2019; superalign/models/spelling.py); its known words come from "
        "the training texts (corpus) or from them and an English lexicon (english)",
    )
    canonicalize: bool = Field(
        False,
        description="the learner learns the phrase substitutions of the adversarial edits found so far and reads "
        "every text with each learnt class of phrases written one way (superalign/oversight/canon.py)",
    )
    weighting: Literal["confidence", "margin", "none"] = Field("confidence", description="critic label weight")
    human_weight: float = Field(1.0, gt=0, description="sample weight of a human label (trained as gold)")
    critic_learns: bool = Field(
        True,
        description="after each round with human labels, refit a weak critic on train_gt plus all human labels "
        "so far and re-judge every critic label (an LLM critic stays as it is)",
    )
    edit_target: Literal["learner", "source"] = Field(
        "learner",
        description="label of an adversarial edit: the learner's verdict on its source when found (consistency), "
        "or the source's critic label; a human label of the source wins either way",
    )
    attackers: list[str] = Field(default_factory=lambda: ["pool", "perturb"], description="registered attackers")
    attack_size: int = Field(40, ge=0, description="queries per attacker per round")
    eval_size: int = Field(60, ge=1, description="fresh attacks per attacker per round, on the val split")
    pool_mode: Literal["uncertainty", "disagreement", "both"] = "both"
    perturb: PerturbConfig = Field(default_factory=PerturbConfig)
    rounds: int = Field(5, ge=0)
    human_budget: int = Field(50, ge=0, description="gold labels the human oracle may give, over all rounds")
    policy: str = Field(
        "disagreement",
        description="which queries a human labels (a registered selection policy): "
        "disagreement, critic_uncertainty, uncertainty, random",
    )
    label_edits: bool = Field(
        False,
        description="let the human label adversarial edits too (an edit's gold label is its source's); "
        "off: the budget goes to real pool inputs the attackers surfaced",
    )
    llm: str = Field(
        "local:smollm2", description="LLM for the llm critic / generative attacker: local[:PATH] or openai[:MODEL]"
    )
    sizes: SplitSizes = Field(default_factory=lambda: SplitSizes(train_gt=500, train_w2s=2000, val=300, test=1500))

    @field_validator("attackers")
    @classmethod
    def _known_attackers(cls, v: list[str]) -> list[str]:
        return non_empty_unique([ATTACKERS.check(a) for a in v])

    @field_validator("critic")
    @classmethod
    def _known_critic(cls, v: str) -> str:
        return CRITICS.check(v)

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, v: str) -> str:
        return POLICIES.check(v)

    @field_validator("critic_models")
    @classmethod
    def _critic_models(cls, v: list[str]) -> list[str]:
        return non_empty_unique(v)

    def rounds_key(self) -> str:
        """Content hash of what one seed's rounds depend on (not the seed list or the summary's
        bootstrap) and of the code that computes them (`ROUNDS_VERSION`, the package version):
        rounds are stored under it, so adding seeds reuses the finished ones and a code change that
        alters a round is not served stale."""
        import superalign

        base = content_hash(self, exclude={"seeds", "n_bootstrap", "min_gap"})
        return hashlib.sha256(f"{base}:{ROUNDS_VERSION}:{superalign.__version__}".encode()).hexdigest()[:12]
