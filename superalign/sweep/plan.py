"""A sweep's plan: its jobs, what each claims and waits for, and which the store already holds.

Jobs, in the order they may start:
  encode   one per (task, model with a frozen encoder) that a W2S run still computes: every text of
           the task's example pool, encoded once into the shared encoder cache
  cell     one run with one seed: W2S (task, weak, strong, seed, every method), a loop or a
           generation run; waits for the encode jobs of its models
  summary  the same run with all the sweep's seeds, once its cells are done: served from the
           cached stages, it gives the bootstrap CIs over seeds (``<store>/<hash>/summary.json``)
A job is done when its summary file exists (written last, atomically, by the run itself), so
the plan of a killed sweep sees exactly its finished runs. Two jobs that train models of the
same (task, seed, model) never run at once (`claims`): a weak model shared by two pairs is
trained once and read from the cache by the second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..config import validation_message
from ..errors import ConfigError
from .config import SweepConfig


@dataclass
class Job:
    """One unit of work: `kind` in encode / cell / summary; `run` in w2s / loop / teach / best_of_n."""

    id: str
    kind: str
    run: str
    label: str
    config: dict[str, Any]  # the run's config mapping (an encode job: task, task_args, sizes, model ...)
    summary: str | None = None  # summary path relative to the store (None: an encode job)
    claims: frozenset = frozenset()
    after: set[str] = field(default_factory=set)
    info: dict[str, Any] = field(default_factory=dict)  # task, weak, strong, seed(s): for records and reports
    done: bool = False

    def record(self) -> dict[str, Any]:
        """What the sweep's records keep of this job."""
        return {
            "id": self.id,
            "kind": self.kind,
            "run": self.run,
            "label": self.label,
            "summary": self.summary,
            "after": sorted(self.after),
            **self.info,
        }


def _model(run: str) -> type[BaseModel]:
    if run == "w2s":
        from ..w2s import ExperimentConfig

        return ExperimentConfig
    if run == "loop":
        from ..oversight import LoopConfig

        return LoopConfig
    if run == "red_team":
        from ..redteam import RedTeamConfig

        return RedTeamConfig
    from ..generation import BestOfNConfig, RefuseConfig, TeachConfig

    return {"best_of_n": BestOfNConfig, "refuse": RefuseConfig}.get(run, TeachConfig)


def build_config(run: str, data: dict[str, Any]) -> Any:
    """The validated config of a run of kind `run` (a one-line ConfigError naming the field)."""
    try:
        return _model(run).model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"invalid {run} run {data.get('task', '')}: {validation_message(e)}") from None


def summary_path(run: str, cfg: Any) -> str:
    """Where the run writes its summary, relative to the store root."""
    if run == "loop":
        return f"loop-{cfg.rounds_key()}/summary-{cfg.hash()}.json"
    return f"{cfg.hash()}/summary.json"


def _runs(cfg: SweepConfig) -> list[tuple[str, dict[str, Any], dict[str, Any], set[str]]]:
    """(run kind, config mapping with all seeds, info, models it trains) for every run of the grid."""
    from ..data import generation_metric

    out = []
    for task in cfg.tasks:
        for weak, strong in cfg.model_pairs():
            args = {**cfg.run.get("task_args", {}), **cfg.task_args.get(task, {})}
            data = {**cfg.run, "task": task, "task_args": args, "weak": weak, "strong": strong, "methods": cfg.methods}
            data |= {"seeds": cfg.seeds, "mode": cfg.mode}
            out.append(("w2s", data, {"task": task, "weak": weak, "strong": strong}, {weak, strong}))
    for loop in cfg.loops:
        data = {"seeds": cfg.seeds, **loop}
        task = data.get("task", "sentiment")
        if (
            generation_metric(task) is not None
        ):  # the red-team loop on a generative learner (`superalign loop --task refusal`)
            out.append(("red_team", data, {"task": task, "learner": data.get("learner", "smollm2")}, set()))
            continue
        models = {*data.get("critic_models", ["tfidf", "static"]), data.get("learner", "minilm")}
        out.append(("loop", data, {"task": task, "learner": data.get("learner")}, models))
    for gen in cfg.generation:
        data = {"seeds": cfg.seeds, **gen}
        setting = data.pop("setting", None)
        task = data.get("task", "sentiment_continuation")
        run = "best_of_n" if setting == "best_of_n" else "refuse" if task == "refusal" else "teach"
        out.append((run, data, {"task": task, "weak": data.get("weak")}, set()))
    return out


def _label(run: str, info: dict[str, Any], seed: Any) -> str:
    who = f"{info['weak']} -> {info['strong']}" if run == "w2s" else f"{run} {info.get('weak') or info.get('learner')}"
    return f"{info['task']}: {who}, seed {seed}"


def plan_sweep(cfg: SweepConfig, root: Path) -> list[Job]:
    """Every job of the sweep, marked done where `root` (the store) already holds its summary.
    Models are checked here (unknown names, assets not fetched): one line before anything runs."""
    from ..runconfig import RunConfig

    probe = RunConfig(mode=cfg.mode, **{k: v for k, v in cfg.run.items() if k in ("probe", "finetune")})
    for spec in {m for pair in cfg.model_pairs() for m in pair} if cfg.tasks else ():
        probe.factory(spec)  # a ModelError for an unknown model, a missing asset
    jobs: list[Job] = []
    encoders: dict[tuple[str, str], Job] = {}
    for run, data, info, models in _runs(cfg):
        full = build_config(run, data)
        seeds = list(full.seeds)
        cells = []
        for seed in seeds:
            one = build_config(run, {**data, "seeds": [seed]})
            path = summary_path(run, one)
            job = Job(
                f"{run}-{one.hash()}",
                "cell",
                run,
                _label(run, info, seed),
                one.model_dump(mode="json"),
                path,
                frozenset((info["task"], seed, m) for m in models or {run}),
                info={**info, "seed": seed},
                done=(root / path).is_file(),
            )
            cells.append(job)
        jobs += cells
        if len(seeds) > 1:
            path = summary_path(run, full)
            jobs.append(
                Job(
                    f"summary-{run}-{full.hash()}",
                    "summary",
                    run,
                    _label(run, info, ",".join(map(str, seeds))).replace("seed ", "seeds "),
                    full.model_dump(mode="json"),
                    path,
                    after={c.id for c in cells},
                    info={**info, "seeds": seeds},
                    done=(root / path).is_file(),
                )
            )
        if run != "w2s" or all(c.done for c in cells) or full.mode == "finetune":
            continue
        for spec in sorted(models):
            if full.factory(spec).encoder is None:
                continue
            key = (info["task"], spec)
            if key not in encoders:
                enc = {"task": full.task, "task_args": full.task_args, "model": spec}
                enc |= {"sizes": full.sizes.model_dump(), "data_seed": full.data_seed, "seed": seeds[0]}
                encoders[key] = Job(
                    re.sub(r"[^A-Za-z0-9_-]", "_", f"encode-{info['task']}-{spec}"),
                    "encode",
                    "encode",
                    f"{info['task']}: encode with {spec}",
                    enc,
                    claims=frozenset({("encode", *key)}),
                    info={"task": info["task"], "model": spec},
                )
            for c in cells:
                c.after.add(encoders[key].id)
    return list(encoders.values()) + jobs
