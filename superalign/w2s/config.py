"""`ExperimentConfig`: one weak-to-strong experiment (``superalign run``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from ..config import content_hash, non_empty_unique
from ..models import LMPretrainConfig
from ..runconfig import RunConfig
from .tuning import TuneConfig


class ExperimentConfig(RunConfig):
    """One weak-to-strong experiment: a task, a weak and a strong model, methods, seeds."""

    weak: str = "static"
    strong: str = "minilm"
    methods: list[str] = Field(
        default_factory=lambda: ["xent", "logconf"],
        description="W2S methods (losses, label interventions); [all] = every one",
    )
    method_params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-method hyper-parameters")
    chain: list[str] = Field(
        default_factory=list, description="bootstrapping chain weak,...,strong (sets weak and strong)"
    )
    lm_pretrain: LMPretrainConfig = Field(
        default_factory=LMPretrainConfig,
        description="generative fine-tuning of the strong model on unlabelled inputs first (finetune mode)",
    )
    tune: TuneConfig = Field(
        default_factory=TuneConfig,
        description="per-method hyper-parameter grids, chosen by agreement with the weak labels of val",
    )

    def hash(self) -> str:
        """The run's identity; generative fine-tuning and tuning enter it only when enabled, so
        every config without them keeps the hash it had before the options existed."""
        off = {name for name in ("lm_pretrain", "tune") if not getattr(self, name).enabled}
        return content_hash(self, exclude=off or None)

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        v = non_empty_unique(v)
        if "all" not in v:
            return v
        from .methods import method_names  # imports torch: only when asked for

        return [*dict.fromkeys([m for m in v if m != "all"] + method_names())]

    @field_validator("chain")
    @classmethod
    def _chain(cls, v: list[str]) -> list[str]:
        if v and (len(v) < 2 or len(set(v)) != len(v)):
            raise ValueError(f"needs at least two distinct models, got {v}")
        return v

    @model_validator(mode="after")
    def _tuned_methods_run(self) -> ExperimentConfig:
        missing = [m for m in self.tune.grid if m not in self.methods]
        if missing:
            raise ValueError(f"tune.grid names methods the run does not train: {missing} (methods: {self.methods})")
        return self

    @model_validator(mode="after")
    def _lm_pretrain_needs_finetune(self) -> ExperimentConfig:
        if self.lm_pretrain.enabled and self.mode != "finetune":
            raise ValueError("lm_pretrain.enabled needs mode=finetune (a probe's encoder stays frozen)")
        return self

    @model_validator(mode="after")
    def _chain_ends(self) -> ExperimentConfig:
        """A chain sets weak (its first rung) and strong (its last); explicit, different ones are an error."""
        if self.chain:
            for role, value in (("weak", self.chain[0]), ("strong", self.chain[-1])):
                if role in self.model_fields_set and getattr(self, role) != value:
                    raise ValueError(f"{role}={getattr(self, role)!r} contradicts chain {self.chain}")
                object.__setattr__(self, role, value)
        return self
