"""Where a registered task's raw table comes from: a local copy, or the Hugging Face hub.

Resolution order for a task's data (first that is set wins):

1. the task argument ``data_dir`` (CLI ``--data-dir``, YAML ``task_args.data_dir``);
2. the environment variable ``SUPERALIGN_DATA``;
3. the task's hub dataset, loaded with ``datasets.load_dataset`` (the way users load it; the
   ``hub_id`` task argument overrides the id, and may also be a local dataset folder).

A local root is laid out like the project's shared data folder (``<root>/wts_safety/safety.csv``,
``<root>/hh_rlhf/harmless-base_test.jsonl.gz`` ...); ``data_dir`` may also point straight at the
task's folder or at one of its files. Nothing is downloaded unless no local copy is configured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import DataError
from .base import SplitSizes

if TYPE_CHECKING:
    import pandas as pd

    from .base import Dataset

ENV = "SUPERALIGN_DATA"


@dataclass(frozen=True)
class HubSource:
    """Arguments of ``datasets.load_dataset`` for a task's canonical hub copy."""

    path: str
    name: str | None = None
    split: str = "train"
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if "data_files" in self.kwargs:  # a file that `datasets` downloads with a generic builder
            return f"hub {self.kwargs['data_files']} ({self.path})"
        extra = "".join(f", {k}={v}" for k, v in [("config", self.name), *self.kwargs.items()] if v)
        return f"hub {self.path} [{self.split}{extra}]"


@dataclass(frozen=True)
class LocalFiles:
    """The task's files relative to a data root, and how pandas reads them."""

    paths: tuple[str, ...]
    read: dict[str, Any] = field(default_factory=dict)  # extra pandas reader arguments


def data_root(data_dir: str | None) -> tuple[Path, str] | None:
    """The configured local root and where it was set, or None (then the hub is used)."""
    if data_dir:
        return Path(data_dir).expanduser(), "data_dir"
    env = os.environ.get(ENV)
    return (Path(env).expanduser(), ENV) if env else None


def resolve_local(task: str, files: LocalFiles, root: Path, origin: str) -> list[Path]:
    """The local files of a task under ``root``: the shared-data layout, the task's own folder,
    or ``root`` itself when it is one data file."""
    if root.is_file():
        return [root]
    for candidate in ([root / p for p in files.paths], [root / Path(p).name for p in files.paths]):
        found = [p for p in candidate if p.is_file()]
        if found:
            return found
    raise DataError(
        f"task {task!r}: {origin}={root} has no {files.paths[0]}"
        + (f" (set by {ENV}; unset it to load from the hub)" if origin == ENV else "")
    )


TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


def table_suffix(path: Path) -> str:
    """The file's table type, its last suffix other than ``.gz`` (lower case), or ''."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def read_table(path: Path, **kwargs: Any) -> pd.DataFrame:
    """A csv / tsv / jsonl / json / parquet file (optionally .gz) as a DataFrame; a DataError if unreadable."""
    import pandas as pd

    kind = table_suffix(path)
    if kind not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported file type; use one of {', '.join(TABLE_SUFFIXES)} (optionally .gz)")
    readers = {
        ".csv": (pd.read_csv, {}),
        ".tsv": (pd.read_csv, {"sep": "\t"}),
        ".jsonl": (pd.read_json, {"lines": True}),
        ".json": (pd.read_json, {}),
        ".parquet": (pd.read_parquet, {}),
    }
    reader, defaults = readers[kind]
    try:
        return reader(path, **defaults, **kwargs)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise DataError(f"{path}: cannot parse: {str(e).splitlines()[0]}") from None


def load_hub(task: str, src: HubSource) -> pd.DataFrame:
    """The hub dataset (or a local dataset folder given as its id) as one DataFrame."""
    import datasets

    try:
        ds = datasets.load_dataset(src.path, src.name, split=src.split, **src.kwargs)
    except Exception as e:  # datasets raises many types; all mean "cannot load this"
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(
            f"task {task!r}: cannot load {src}: {msg} (offline? point --data-dir or {ENV} at a local copy)"
        ) from None
    return ds.to_pandas()


def require_columns(task: str, df: pd.DataFrame, *options: tuple[str, ...]) -> tuple[str, ...]:
    """The first column set in ``options`` that the table has, else a DataError listing them."""
    for cols in options:
        if all(c in df.columns for c in cols):
            return cols
    want = " or ".join("(" + ", ".join(c) + ")" for c in options)
    raise DataError(f"task {task!r}: expected columns {want}; found {', '.join(map(str, df.columns))}")


@dataclass
class SourcedTask:
    """Base of the registered tasks that read a known dataset from a local copy or the hub.

    Subclasses set the class attributes and implement ``build(table) -> Dataset``; their
    dataclass fields (all with defaults) are the task arguments (``task_args`` in the config).
    """

    data_dir: str | None = None  # local data root, the task's folder, or one of its files
    hub_id: str | None = None  # another hub id (or a local dataset folder) instead of `hub`

    name: ClassVar[str]
    kind: ClassVar[str] = "classification"
    metric: ClassVar[str] = "accuracy"
    description: ClassVar[str]
    local: ClassVar[LocalFiles]
    hub: ClassVar[HubSource]
    default_sizes: ClassVar[SplitSizes | None] = None  # set by tasks too small for the general defaults

    def _hub(self) -> HubSource:
        if self.hub_id is None:
            return self.hub
        if Path(self.hub_id).expanduser().is_dir():  # a local folder in the hub's format: no config name
            return HubSource(str(Path(self.hub_id).expanduser()), None, self.hub.split)
        return HubSource(self.hub_id, self.hub.name, self.hub.split, self.hub.kwargs)

    def _local_paths(self) -> list[Path] | None:
        root = data_root(self.data_dir)
        return None if root is None else resolve_local(self.name, self.local, *root)

    @property
    def location(self) -> str:
        """Where ``load()`` reads from, for listings."""
        paths = self._local_paths()
        return str(self._hub()) if paths is None else ", ".join(str(p) for p in paths)

    def source_id(self) -> str:
        """Identity of the resolved source (paths with sizes and times, or the hub spec)."""
        paths = self._local_paths()
        if paths is None:
            return repr(self._hub())
        return repr([(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths])

    def table(self) -> pd.DataFrame:
        import pandas as pd

        paths = self._local_paths()
        if paths is None:
            return load_hub(self.name, self._hub())
        return pd.concat([read_table(p, **self.local.read) for p in paths], ignore_index=True)

    def load(self) -> Dataset:
        data = self.build(self.table())
        if len(data) == 0:
            raise DataError(f"task {self.name!r}: no examples in {self.location}")
        return data

    def build(self, table: pd.DataFrame) -> Dataset:
        raise NotImplementedError
