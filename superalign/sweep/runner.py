"""Run a sweep: plan it, skip what the store holds, hand the rest to an executor, record every job.

Records, under ``<store>/sweep-<hash>/`` (written atomically; `superalign report` reads them):
  sweep.json        the sweep's config and every job (id, kind, run, label, summary path, task, models, seed)
  jobs/<id>.json    each job this sweep finished or failed: state, seconds, stages computed, error
A job is done when its run's summary file exists, so a rerun after ``kill -9`` plans exactly the
jobs that had not finished; a failed job is reported on one line and the others go on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store import Store, atomic_write_json
from .config import SweepConfig
from .executors import LocalExecutor, RayExecutor, SweepError
from .plan import Job, plan_sweep


@dataclass
class SweepResult:
    """What a sweep did: its jobs (planned), their final states and where its records are."""

    config: SweepConfig
    dir: Path
    jobs: list[Job]
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> state (this call's jobs only)
    seconds: float = 0.0

    def count(self, state: str) -> int:
        return sum(s["state"] == state for s in self.states.values())

    @property
    def failed(self) -> list[tuple[Job, str]]:
        by_id = {j.id: j for j in self.jobs}
        return [(by_id[i], s.get("error", "")) for i, s in self.states.items() if s["state"] in ("failed", "skipped")]


def plan_lines(jobs: list[Job]) -> list[str]:
    """The plan as printed before anything runs: per job kind and run, how many, cached, to compute."""
    rows: Counter = Counter()
    for j in jobs:
        rows[(j.kind, j.run, j.done)] += 1
    lines = []
    for kind, run in dict.fromkeys((k, r) for k, r, _ in rows):
        cached, todo = rows[(kind, run, True)], rows[(kind, run, False)]
        name = "encode" if kind == "encode" else f"{run} {kind}s".replace("summarys", "summaries")
        lines.append(f"  {name:<18} {cached + todo:>4}   cached {cached:>4}   to compute {todo:>4}")
    total, todo = len(jobs), sum(not j.done for j in jobs)
    lines.append(f"  {'all jobs':<18} {total:>4}   cached {total - todo:>4}   to compute {todo:>4}")
    return lines


class _Display:
    """Live counts of jobs done / running / failed / cached with an ETA (rich), or one line per job."""

    def __init__(self, live: bool, total: int, cached: int, echo: Callable[[str], None]):
        self.live, self.echo, self.cached = live, echo, cached
        self.n: Counter = Counter()
        if live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._p = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._task = self._p.add_task(self._text(), total=total)
            self._p.start()

    def _text(self) -> str:
        n = self.n
        return f"done {n['done']} · running {n['running']} · failed {n['failed'] + n['skipped']} · cached {self.cached}"

    def update(self, job: Job, state: str, info: dict[str, Any] | None = None) -> None:
        if state in ("done", "failed"):
            self.n["running"] -= 1
        self.n[state] += 1
        if state == "failed" or state == "skipped":
            line = f"  {state.upper():<7} {job.label}: {(info or {}).get('error', '')}"
        elif state == "done":
            line = f"  done    {job.label}  ({info['seconds']:.1f} s, {info.get('computed', 0)} computed)"
        else:
            line = None
        if self.live:
            if line and state != "done":
                self._p.console.print(line)
            self._p.update(self._task, advance=state != "running", description=self._text())
        elif line:
            self.echo(line)

    def close(self) -> None:
        if self.live:
            self._p.stop()


def _executor(root: Path, workers: int, threads: int | None, ray: str | None) -> LocalExecutor | RayExecutor:
    if ray:
        return RayExecutor(str(root.resolve()), ray, workers, threads)
    return LocalExecutor(str(root.resolve()), workers, threads)


def run_sweep(
    cfg: SweepConfig,
    root: str | Path = "runs",
    workers: int = 1,
    threads: int | None = None,
    ray: str | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
    on_done: Callable[[Job], None] = lambda job: None,
) -> SweepResult:
    """Run (or resume) `cfg` in the store at `root`: plan, print the plan, run what is missing on
    `workers` local processes (or Ray tasks with `ray` = ``auto``/``local``/``HOST:PORT``), and
    record each job. `on_done(job)` is called in this process for every job that finishes."""
    start = time.perf_counter()
    store = Store(root)  # a one-line StoreError for a root that cannot be written
    sweep_dir = store.run_dir(f"sweep-{cfg.hash()}")
    jobs = plan_sweep(cfg, store.root)
    atomic_write_json(
        sweep_dir / "sweep.json",
        {
            "name": cfg.name,
            "hash": cfg.hash(),
            "config": cfg.model_dump(mode="json"),
            "jobs": [j.record() for j in jobs],
        },
    )
    echo(f"sweep {cfg.name} ({cfg.hash()}): {len(jobs)} jobs, records in {sweep_dir}")
    for line in plan_lines(jobs):
        echo(line)
    result = SweepResult(cfg, sweep_dir, jobs)
    pending = [j for j in jobs if not j.done]
    if not pending:
        result.seconds = time.perf_counter() - start
        return result
    executor = _executor(store.root, workers, threads, ray)
    display = _Display(progress, len(pending), len(jobs) - len(pending), echo)
    finished = {j.id for j in jobs if j.done}
    failed: set[str] = set()
    running: dict[Any, Job] = {}

    def finish(job: Job, state: dict[str, Any]) -> None:
        result.states[job.id] = state
        atomic_write_json(sweep_dir / "jobs" / f"{job.id}.json", {"id": job.id, "label": job.label, **state})
        (finished if state["state"] == "done" else failed).add(job.id)
        display.update(job, state["state"], state)

    try:
        while pending or running:
            for job in [j for j in pending if j.after & failed and j.kind == "summary"]:
                pending.remove(job)
                finish(job, {"state": "skipped", "error": "a cell of this run failed", "seconds": 0.0})
            busy = {c for j in running.values() for c in j.claims}
            encodes_over = finished | {i for i in failed if i.startswith("encode-")}  # a failed encode blocks nothing
            for job in list(pending):
                if len(running) >= executor.slots:
                    break
                if job.after <= encodes_over and not job.claims & busy:
                    pending.remove(job)
                    running[executor.submit(job)] = job
                    busy |= job.claims
                    display.update(job, "running")
            if not running:
                raise SweepError(f"jobs wait for jobs that never ran: {[j.id for j in pending][:3]}")
            for handle, out in executor.wait(list(running), timeout=0.5):
                job = running.pop(handle)
                state = "failed" if "error" in out else "done"
                finish(job, {"state": state, **out, "finished": time.time()})
                if state == "done" and job.summary:
                    job.done = True
                    on_done(job)
    except BaseException:
        executor.close(wait=False)
        raise
    finally:
        display.close()
    executor.close()
    result.seconds = time.perf_counter() - start
    return result
