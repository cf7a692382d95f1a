"""The task listing of ``superalign tasks``: kind, metric, size, class balance and source.

Counting examples means loading the data, so counts are cached in
``$SUPERALIGN_HOME/task_sizes.json`` keyed by the task, its arguments and the identity of its
resolved source (file paths, sizes and modification times, or the hub id): a listing after the
first is instant, and a changed file is counted again. Hub sources are counted only on request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .. import assets
from ..errors import SuperalignError
from .base import TASKS, fingerprint, get_task, task_metric, task_names
from .sources import data_root

_VERSION = 1  # bump when a loader changes what it builds


@dataclass(frozen=True)
class TaskRow:
    name: str
    kind: str
    metric: str
    size: str
    balance: str
    source: str
    description: str


def _cache_path():
    return assets.home() / "task_sizes.json"


def _read_cache() -> dict:
    try:
        return json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}


def task_rows(data_dir: str | None = None, sizes: bool = True, hub: bool = False) -> list[TaskRow]:
    """One row per registered task. Sizes come from the cache, or from loading local sources
    (and hub sources when ``hub``); a source that cannot be resolved or loaded says why."""
    from ..store import atomic_write_json

    cache = _read_cache()
    before = len(cache)
    rows = [_row(name, data_dir, cache, sizes, hub) for name in task_names()]
    if len(cache) != before:
        atomic_write_json(_cache_path(), cache)
    return rows


def _row(name: str, data_dir: str | None, cache: dict, sizes: bool, hub: bool) -> TaskRow:
    args = {"data_dir": data_dir} if data_dir and takes_data_dir(name) else {}
    task = get_task(name, **args)
    head = dict(name=name, kind=task.kind, metric=task_metric(task), description=task.description)
    try:
        source = str(getattr(task, "location", "built in"))
        ident = task.source_id() if hasattr(task, "source_id") else source
        root = data_root(data_dir)
        if root is not None:  # show paths relative to the data root
            source = source.replace(str(root[0]).rstrip("/") + "/", "")
    except SuperalignError as e:
        return TaskRow(**head, size=f"unavailable: {e}", balance="-", source="-")
    key = fingerprint(_VERSION, name, sorted(args.items()), ident)
    is_hub = source.startswith("hub ")
    if sizes and key not in cache and (hub or not is_hub):
        try:
            data = task.load()
        except SuperalignError as e:
            return TaskRow(**head, size=f"unavailable: {e}", balance="-", source=source)
        cache[key] = {"n": len(data), "pos": float(data.labels.mean())}
    if key in cache:
        return TaskRow(**head, size=f"{cache[key]['n']:,}", balance=f"{cache[key]['pos']:.1%}", source=source)
    return TaskRow(**head, size="on the hub (--hub counts)" if is_hub and sizes else "-", balance="-", source=source)


def takes_data_dir(name: str) -> bool:
    """Whether the registered task `name` accepts a ``data_dir`` argument."""
    from dataclasses import fields, is_dataclass

    factory = TASKS[name]
    return is_dataclass(factory) and any(f.name == "data_dir" for f in fields(factory))
