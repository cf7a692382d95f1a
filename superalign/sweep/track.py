"""``--track mlflow``: each finished run of a sweep logged to MLflow, in a local store under the runs folder.

One MLflow experiment per sweep (``sweep-<name>-<hash>``), one MLflow run per job (tagged with
its job id, so a resumed sweep never logs a job twice): the run's config as parameters (dotted
keys), every number of its summary as metrics (an estimate as ``name``, ``name.lo``, ``name.hi``;
loop rounds and best-of-n rows as steps), an undefined estimate as the tag ``undefined.<name>``.
The tracking store is ``<store>/mlruns`` (MLflow's file store; browse it with
``mlflow ui --backend-store-uri <store>/mlruns``). Needs the ``track`` extra (mlflow-skinny).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .plan import Job


def flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf) pairs of a nested mapping; lists become ``key.0``, ``key.1`` ..."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else None
    if items is None:
        yield prefix, obj
        return
    for k, v in items:
        yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))


def summary_metrics(summary: dict[str, Any]) -> tuple[list[tuple[str, float, int]], dict[str, str]]:
    """(name, value, step) metrics and ``undefined.<name>`` tags of a run's summary."""
    metrics: list[tuple[str, float, int]] = []
    tags: dict[str, str] = {}

    def walk(obj: Any, name: str, step: int) -> None:
        if isinstance(obj, dict) and "mean" in obj and "ci" in obj:
            if obj["mean"] is None:
                tags[f"undefined.{name}"] = str(obj.get("reason", "undefined"))
                return
            metrics.append((name, float(obj["mean"]), step))
            if obj["ci"]:
                metrics.extend([(f"{name}.lo", float(obj["ci"][0]), step), (f"{name}.hi", float(obj["ci"][1]), step)])
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{name}.{k}" if name else str(k), step)
        elif isinstance(obj, bool) or obj is None or isinstance(obj, str):
            return
        elif isinstance(obj, int | float):
            metrics.append((name, float(obj), step))

    for key, value in summary.items():
        if key in ("rounds", "rows") and isinstance(value, list):  # loop rounds, best-of-n sizes: steps
            for item in value:
                step = int(item.get("round", item.get("n", 0)))
                walk({k: v for k, v in item.items() if k not in ("round", "n")}, key, step)
        elif key not in ("seeds", "sizes", "computed"):
            walk(value, key, 0)
    return metrics, tags


class MlflowTracker:
    """Logs each finished job of one sweep to MLflow (see the module docstring)."""

    def __init__(self, root: Path, experiment: str):
        try:
            import mlflow
        except ImportError:
            raise ConfigError("--track mlflow needs MLflow: pip install 'superalign[track]'") from None
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # a local folder, no server
        self.root, self.mlflow = root, mlflow
        mlflow.set_tracking_uri((root.resolve() / "mlruns").as_uri())
        self.experiment = mlflow.set_experiment(experiment).experiment_id

    def logged(self, job_id: str) -> bool:
        """Whether a run for this job is already in the tracking store."""
        runs = self.mlflow.search_runs(
            [self.experiment], filter_string=f"tags.job_id = '{job_id}'", output_format="list", max_results=1
        )
        return bool(runs)

    def log(self, job: Job) -> None:
        """Log `job`'s config and its summary's metrics, once."""
        if job.summary is None or self.logged(job.id):
            return
        summary = json.loads((self.root / job.summary).read_text())
        metrics, tags = summary_metrics(summary)
        params = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in flatten(job.config)}
        with self.mlflow.start_run(
            experiment_id=self.experiment, run_name=job.label, tags={"job_id": job.id, "kind": job.kind, **tags}
        ):
            self.mlflow.log_params({k: v[:500] for k, v in params.items()})
            for step in sorted({step for _, _, step in metrics}):
                self.mlflow.log_metrics({n: v for n, v, s in metrics if s == step}, step=step)
