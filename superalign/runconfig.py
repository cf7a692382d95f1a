"""`RunConfig`: the settings every run shares, W2S experiment and oversight loop alike.

A task and its arguments, seeds and the data seed, split sizes, how the models train (probe
head or fine-tuning) and the bootstrap of the summary. `superalign.w2s.ExperimentConfig` and
`superalign.oversight.LoopConfig` extend it with their own roles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .config import content_hash, load_config, non_empty_unique, with_section_defaults
from .data import SplitSizes, Task
from .models import FinetuneConfig, ModelFactory, ProbeConfig


class RunConfig(BaseModel):
    """Task, seeds, splits, training recipe and statistics of one run (a base class)."""

    model_config = ConfigDict(extra="forbid")
    task: str = "sentiment"
    task_args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the task loader")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    data_seed: int = 0
    sizes: SplitSizes = Field(
        default_factory=SplitSizes, description="split sizes; those left unset take the task's default_sizes if any"
    )
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    mode: Literal["probe", "finetune"] = Field(
        "probe", description="probe: a head on frozen features; finetune: fine-tune Hugging Face models (full or LoRA)"
    )
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    n_bootstrap: int = Field(1000, ge=10)
    min_gap: float = Field(0.02, ge=0, description="PGR is undefined below this ceiling-weak accuracy gap")

    @model_validator(mode="before")
    @classmethod
    def _section_defaults(cls, data: Any) -> Any:
        return with_section_defaults(cls, data)

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        return non_empty_unique(v)

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: list[str] | None = None) -> Self:
        """Defaults, then the YAML file `path`, then ``key=value`` overrides (a ConfigError if invalid)."""
        return load_config(cls, path, overrides)

    def hash(self) -> str:
        """Content hash of the resolved config: the run's identity."""
        return content_hash(self)

    def split_sizes(self, task: Task) -> SplitSizes:
        """The split sizes of this run on `task`: the sizes the config sets, and for the rest the
        task's ``default_sizes`` when it has them (a task too small for the general defaults)."""
        default: SplitSizes | None = getattr(task, "default_sizes", None)
        if default is None:
            return self.sizes
        given = self.sizes.model_dump(include=self.sizes.model_fields_set) if "sizes" in self.model_fields_set else {}
        return default.model_copy(update=given)

    def factory(self, spec: str, spelling: str = "off") -> ModelFactory:
        """The factory of model `spec` under this run's mode, probe and fine-tuning settings."""
        return ModelFactory(spec, self.probe, self.finetune if self.mode == "finetune" else None, spelling)
