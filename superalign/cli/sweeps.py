"""The grid commands: ``sweep`` (a resumable grid of runs, local workers or Ray) and ``report``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..summaries import console
from . import QuietOpt, SeedsOpt, StoreOpt, _overrides, _quiet_libraries, _set_opt, app


def _print_results(root: Path, jobs: list) -> None:
    """One line per method of every finished W2S run of the sweep (all seeds): score and PGR [95% CI]."""
    from rich.table import Table

    from ..metrics import Estimate

    members = {i for j in jobs for i in j.after if j.kind == "summary"}
    table = Table(title="sweep results (all seeds)")
    for col in ("task", "weak -> strong", "method", "score [95% CI]", "PGR [95% CI]"):
        table.add_column(col)
    for job in jobs:
        if job.run != "w2s" or job.kind == "encode" or job.id in members or not (root / job.summary).is_file():
            continue
        s = json.loads((root / job.summary).read_text())
        for method, m in s["methods"].items():
            pair = f"{s['weak']} -> {s['strong']}"
            table.add_row(
                s["task"], pair, method, Estimate.from_dict(m["score"]).fmt(), Estimate.from_dict(m["pgr"]).fmt()
            )
    if table.row_count:
        console.print(table)


@app.command()
def sweep(
    config: Annotated[Path | None, typer.Argument(help="SWEEP.yaml (see configs/sweep_*.yaml)")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma-separated tasks, e.g. sentiment,sst2")] = None,
    ladder: Annotated[
        str | None, typer.Option(help="comma-separated models, weakest first, e.g. tfidf,static,minilm")
    ] = None,
    methods: Annotated[str | None, typer.Option(help="comma-separated W2S methods of every run")] = None,
    seeds: SeedsOpt = None,
    mode: Annotated[str | None, typer.Option(help="probe or finetune")] = None,
    self_pairs: Annotated[bool | None, typer.Option("--self-pairs/--no-self-pairs", help="also weak = strong")] = None,
    set_: Annotated[list[str] | None, _set_opt("run.sizes.test=500 or pairs=[[tfidf,minilm]]")] = None,
    workers: Annotated[int, typer.Option(min=1, help="jobs at once (local worker processes or Ray tasks)")] = 1,
    threads: Annotated[
        int | None, typer.Option(min=1, help="compute threads per worker (default cores / workers)")
    ] = None,
    ray: Annotated[str | None, typer.Option(help="run on Ray: auto, local, or the head's HOST:PORT")] = None,
    track: Annotated[str | None, typer.Option(help="mlflow: log every run to STORE/mlruns")] = None,
    store: StoreOpt = Path("runs"),
    quiet: QuietOpt = False,
) -> None:
    """Run a grid: tasks x (weak < strong pairs of the ladder) x seeds, every method in each run, plus the
    sweep's loops and generation runs. Prints the plan, skips what the store holds, runs the rest.

    A killed sweep resumes where it stopped when run again (finished runs are never recomputed).
    A failed run is reported on one line and the others go on; the exit status is then 2 if it
    was a user error (a bad setting), else 1. `superalign report STORE/sweep-<hash>` draws the figures.
    """
    from ..errors import ConfigError
    from ..sweep import SweepConfig, run_sweep

    if track not in (None, "mlflow"):
        raise ConfigError(f"--track {track!r}: the one tracker is mlflow")
    overrides = _overrides(
        set_,
        {"mode": mode, "self_pairs": None if self_pairs is None else str(self_pairs).lower()},
        {"tasks": tasks, "ladder": ladder, "methods": methods, "seeds": seeds},
    )
    cfg = SweepConfig.load(config, overrides)
    _quiet_libraries()
    tracker = None
    if track == "mlflow":
        from ..sweep.track import MlflowTracker

        tracker = MlflowTracker(store, f"sweep-{cfg.name}-{cfg.hash()}")
    live = not quiet and sys.stderr.isatty()
    result = run_sweep(
        cfg, store, workers, threads, ray, progress=live, echo=lambda s: console.print(s, highlight=False)
    )
    if tracker is not None:
        for job in result.jobs:
            if job.done and job.summary:
                tracker.log(job)
    _print_results(Path(store), result.jobs)
    n_done, failed = result.count("done"), result.failed
    console.print(
        f"{n_done} computed, {len(failed)} failed, {result.seconds:.1f} s; report: superalign report {result.dir}"
    )
    if failed:
        user = any(result.states[j.id].get("user_error") for j, _ in failed)
        print(f"error: {len(failed)} of {len(result.jobs)} jobs failed (listed above)", file=sys.stderr)
        sys.exit(2 if user else 1)


@app.command()
def report(
    path: Annotated[Path, typer.Argument(help="a run folder, a loop folder, a sweep folder or a whole store")],
    out: Annotated[
        Path | None, typer.Option(help="where report.html, the PNGs and cells.csv go (default PATH/report)")
    ] = None,
) -> None:
    """Write one self-contained HTML report (figures inline), its PNGs and a CSV of every cell.

    Figures: PGR heatmaps (weak x strong, per task and method; undefined PGR hatched with its reason),
    test score against strong-model size per weak supervisor with the ceiling, methods side by side with
    CIs and the paired difference to xent, oversight loops per round, generation runs.
    """
    from ..report import build_report

    written = build_report(path, out or path / "report")
    console.print(f"wrote {written.html} ({written.figures} figures, {written.cells} cells in {written.csv.name})")
