"""Experiment configuration: pydantic models, YAML files and dotted ``key=value`` overrides."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .models.classifiers import FinetuneConfig, ProbeConfig


def non_empty_unique(v: list) -> list:
    """Validator body: a list option must be non-empty and free of duplicates."""
    if not v:
        raise ValueError("must not be empty")
    if len(set(v)) != len(v):
        raise ValueError(f"has duplicates: {v}")
    return v


def content_hash(config: BaseModel, exclude: set[str] | None = None) -> str:
    """Short content hash of a resolved config (less the `exclude`d fields): a run's identity."""
    blob = json.dumps(config.model_dump(mode="json", exclude=exclude), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class SplitSizes(BaseModel):
    """Examples per split (drawn disjointly from one seeded pool)."""

    model_config = ConfigDict(extra="forbid")
    train_gt: int = Field(1000, ge=1, description="ground truth for the weak model")
    train_w2s: int = Field(2000, ge=1, description="weak-labelled for the student; its ground truth trains only the ceiling")
    val: int = Field(500, ge=1)
    test: int = Field(1500, ge=1)


class ExperimentConfig(BaseModel):
    """One weak-to-strong experiment: a task, a weak and a strong model, methods, seeds."""

    model_config = ConfigDict(extra="forbid")
    task: str = "sentiment"
    task_args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the task loader")
    weak: str = "static"
    strong: str = "minilm"
    methods: list[str] = Field(default_factory=lambda: ["xent", "logconf"], description="W2S methods (losses, label interventions); [all] = every one")
    method_params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-method hyper-parameters")
    chain: list[str] = Field(default_factory=list, description="bootstrapping chain weak,...,strong (sets weak and strong)")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    data_seed: int = 0
    sizes: SplitSizes = Field(default_factory=SplitSizes)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    mode: Literal["probe", "finetune"] = Field(
        "probe", description="probe: a head on frozen features; finetune: fine-tune Hugging Face models (full or LoRA)"
    )
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    n_bootstrap: int = Field(1000, ge=10)
    min_gap: float = Field(0.02, ge=0, description="PGR is undefined below this ceiling-weak accuracy gap")

    @field_validator("methods", "seeds")
    @classmethod
    def _non_empty_unique(cls, v: list) -> list:
        return non_empty_unique(v)

    @field_validator("methods")
    @classmethod
    def _expand_all(cls, v: list[str]) -> list[str]:
        if "all" not in v:
            return v
        from .w2s.methods import method_names  # imports torch: only when asked for

        return [*dict.fromkeys([m for m in v if m != "all"] + method_names())]

    @field_validator("chain")
    @classmethod
    def _chain(cls, v: list[str]) -> list[str]:
        if v and (len(v) < 2 or len(set(v)) != len(v)):
            raise ValueError(f"needs at least two distinct models, got {v}")
        return v

    @model_validator(mode="after")
    def _chain_ends(self) -> ExperimentConfig:
        """A chain sets weak (its first rung) and strong (its last); explicit, different ones are an error."""
        if self.chain:
            for role, value in (("weak", self.chain[0]), ("strong", self.chain[-1])):
                if role in self.model_fields_set and getattr(self, role) != value:
                    raise ValueError(f"{role}={getattr(self, role)!r} contradicts chain {self.chain}")
                object.__setattr__(self, role, value)
        return self

    def hash(self) -> str:
        """Content hash of the resolved config: the run's identity."""
        return content_hash(self)


ATTACKERS = ("pool", "perturb", "generative")


class PerturbConfig(BaseModel):
    """The perturbation attacker's search budget (see superalign/oversight/perturb.py)."""

    model_config = ConfigDict(extra="forbid")
    max_edits: int = Field(3, ge=1, description="edits per text")
    max_words: int = Field(8, ge=1, description="most important words tried")
    n_char: int = Field(2, ge=0, description="character-noise variants tried per word")
    max_queries: int = Field(120, ge=2, description="learner calls per attacked text")


class LoopConfig(BaseModel):
    """The attacker-learner-critic loop (superalign/oversight): who attacks, who judges, who learns,
    how many human labels it may spend, for how many rounds."""

    model_config = ConfigDict(extra="forbid")
    task: str = "sentiment"
    task_args: dict[str, Any] = Field(default_factory=dict)
    label_names: list[str] | None = Field(None, description="class names for LLM prompts (default: the task's)")
    critic: Literal["weak", "llm"] = "weak"
    critic_models: list[str] = Field(default_factory=lambda: ["tfidf", "static"], description="weak critic ensemble, fit on train_gt")
    learner: str = Field("minilm", description="the strong model: a probe on this encoder, or fine-tuned with mode finetune")
    mode: Literal["probe", "finetune"] = Field(
        "probe", description="the learner (and its baselines): probe = a head on frozen features; finetune = fine-tuned (full or LoRA)")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    loss: str = "logconf"
    loss_params: dict[str, Any] = Field(default_factory=dict)
    spelling: Literal["off", "corpus", "english"] = Field(
        "off", description="the learner and its naive / ceiling baselines read text through a word-recognition front-end "
        "that undoes character noise (Pruthi et al. 2019; superalign/models/spelling.py); its known words come from "
        "the training texts (corpus) or from them and an English lexicon (english)")
    canonicalize: bool = Field(
        False, description="the learner learns the phrase substitutions of the adversarial edits found so far and reads "
        "every text with each learnt class of phrases written one way (superalign/oversight/canon.py)")
    weighting: Literal["confidence", "margin", "none"] = Field("confidence", description="critic label weight")
    human_weight: float = Field(1.0, gt=0, description="sample weight of a human label (trained as gold)")
    critic_learns: bool = Field(
        True, description="after each round with human labels, refit a weak critic on train_gt plus all human labels "
        "so far and re-judge every critic label (an LLM critic stays as it is)")
    edit_target: Literal["learner", "source"] = Field(
        "learner", description="label of an adversarial edit: the learner's verdict on its source when found (consistency), "
        "or the source's critic label; a human label of the source wins either way")
    attackers: list[str] = Field(default_factory=lambda: ["pool", "perturb"])
    attack_size: int = Field(40, ge=0, description="queries per attacker per round")
    eval_size: int = Field(60, ge=1, description="fresh attacks per attacker per round, on the val split")
    pool_mode: Literal["uncertainty", "disagreement", "both"] = "both"
    perturb: PerturbConfig = Field(default_factory=PerturbConfig)
    rounds: int = Field(5, ge=0)
    human_budget: int = Field(50, ge=0, description="gold labels the human oracle may give, over all rounds")
    policy: str = Field("disagreement", description="which queries a human labels: disagreement, uncertainty, random")
    label_edits: bool = Field(
        False, description="let the human label adversarial edits too (an edit's gold label is its source's); "
        "off: the budget goes to real pool inputs the attackers surfaced")
    llm: str = Field("local:smollm2", description="LLM for the llm critic / generative attacker: local[:PATH] or openai[:MODEL]")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    data_seed: int = 0
    sizes: SplitSizes = Field(default_factory=lambda: SplitSizes(train_gt=500, train_w2s=2000, val=300, test=1500))
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    n_bootstrap: int = Field(1000, ge=10)
    min_gap: float = Field(0.02, ge=0)

    @field_validator("attackers")
    @classmethod
    def _known_attackers(cls, v: list[str]) -> list[str]:
        unknown = [a for a in v if a not in ATTACKERS]
        if unknown:
            raise ValueError(f"unknown attacker(s) {unknown}; known: {', '.join(ATTACKERS)}")
        return non_empty_unique(v)

    @field_validator("seeds", "critic_models")
    @classmethod
    def _non_empty_unique(cls, v: list) -> list:
        return non_empty_unique(v)

    def hash(self) -> str:
        """Content hash of the resolved config: the identity of a loop's summary."""
        return content_hash(self)

    def rounds_key(self) -> str:
        """Content hash of what one seed's rounds depend on (not the seed list or the summary's
        bootstrap): rounds are stored under it, so adding seeds reuses the finished ones."""
        return content_hash(self, exclude={"seeds", "n_bootstrap", "min_gap"})


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML: numbers, lists, booleans)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
        node[parts[-1]] = _parse_value(value)
    return data


C = TypeVar("C", bound=BaseModel)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, model: type[C] = ExperimentConfig) -> C:  # type: ignore[assignment]
    """Defaults, then the YAML file, then overrides; a clear ConfigError on anything invalid.

    `model` is the config class (`ExperimentConfig` by default, `LoopConfig` for the loop)."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML: {str(e).splitlines()[0]}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level, got {type(loaded).__name__}")
        data = loaded or {}
    data = apply_overrides(data, overrides or [])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "config"
        raise ConfigError(f"invalid config: {where}: {err['msg']}") from None
