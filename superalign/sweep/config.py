"""`SweepConfig`: a grid of runs (``superalign sweep SWEEP.yaml``).

A sweep is tasks x model pairs x seeds of W2S runs (each run trains every listed method), plus
optional oversight loops and generation runs. Model pairs come from a ladder, weakest first: every
pair weak < strong by default (``self_pairs`` adds weak = strong, as in Burns et al. 2023's
figures), or an explicit ``pairs`` list. ``task_args`` gives each task its own arguments
(``sst2: {data_dir: ...}``); ``run`` holds any other `ExperimentConfig` field (``sizes``,
``probe``, ``method_params`` ...) for every W2S run; a ``loops`` or ``generation``
entry is a whole `LoopConfig` / `TeachConfig` / `BestOfNConfig` mapping, whose seeds default to
the sweep's. A loop on a generation task (``task: refusal``) is the red-team loop (`RedTeamConfig`),
and a generation run on ``refusal`` is setting A on refusal (`RefuseConfig`), as on the command line.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..config import content_hash, load_config, non_empty_unique


class SweepConfig(BaseModel):
    """What a sweep runs: the grid and the settings every run of it shares."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("sweep", description="a label for the sweep's records and report")
    tasks: list[str] = Field(default_factory=lambda: ["sentiment"], description="tasks of the W2S grid ([] for none)")
    ladder: list[str] = Field(
        default_factory=lambda: ["tfidf", "static", "minilm"], description="models, weakest first"
    )
    self_pairs: bool = Field(False, description="also run weak = strong on every rung")
    pairs: list[tuple[str, str]] = Field(
        default_factory=list, description="explicit (weak, strong) pairs instead of the ladder's"
    )
    methods: list[str] = Field(default_factory=lambda: ["xent", "logconf"], description="W2S methods of every run")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    mode: Literal["probe", "finetune"] = "probe"
    task_args: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per task: its task_args (e.g. sst2: {data_dir: ../shared/data})"
    )
    run: dict[str, Any] = Field(default_factory=dict, description="other ExperimentConfig fields for every W2S run")
    loops: list[dict[str, Any]] = Field(default_factory=list, description="LoopConfig mappings (RedTeam on refusal)")
    generation: list[dict[str, Any]] = Field(
        default_factory=list,
        description="generation runs: TeachConfig (RefuseConfig on refusal) mappings, or BestOfNConfig ones "
        "with setting: best_of_n",
    )

    @field_validator("seeds", "methods")
    @classmethod
    def _non_empty(cls, v: list) -> list:
        return non_empty_unique(v)

    @field_validator("tasks", "ladder")
    @classmethod
    def _unique(cls, v: list) -> list:
        if len(set(v)) != len(v):
            raise ValueError(f"has duplicates: {v}")
        return v

    @field_validator("run")
    @classmethod
    def _run_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        owned = {"task", "weak", "strong", "methods", "seeds", "mode", "chain"} & set(v)
        if owned:
            raise ValueError(f"{sorted(owned)} are set by the sweep's own fields, not under run")
        return v

    @model_validator(mode="after")
    def _something_to_run(self) -> Self:
        if not self.model_pairs() and self.tasks and not (self.loops or self.generation):
            raise ValueError(f"the ladder {self.ladder} gives no (weak, strong) pair (set self_pairs or pairs)")
        if not (self.tasks and self.model_pairs()) and not (self.loops or self.generation):
            raise ValueError("the grid expands to nothing: no task with a model pair, no loop, no generation run")
        return self

    def model_pairs(self) -> list[tuple[str, str]]:
        """The (weak, strong) pairs: explicit ones, else every weak < strong on the ladder (and weak = strong)."""
        if self.pairs:
            return [tuple(p) for p in self.pairs]
        n = len(self.ladder)
        return [(self.ladder[i], self.ladder[j]) for i in range(n) for j in range(i if self.self_pairs else i + 1, n)]

    def hash(self) -> str:
        """The sweep's identity: its records live under ``<store>/sweep-<hash>/``."""
        return content_hash(self)

    @classmethod
    def load(cls, path: Any = None, overrides: list[str] | None = None) -> SweepConfig:
        """Defaults, then the YAML file, then ``key=value`` overrides (a one-line ConfigError if invalid)."""
        return load_config(cls, path, overrides)
