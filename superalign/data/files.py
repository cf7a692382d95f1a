"""A binary classification task from any table: a CSV/JSONL/Parquet file, a local dataset
folder, or a Hugging Face hub dataset id (loaded with `datasets.load_dataset`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from .base import Dataset, binarize_labels

if TYPE_CHECKING:
    import pandas as pd

_READERS = {  # suffix -> (pandas reader name, keyword arguments)
    ".csv": ("read_csv", {}),
    ".tsv": ("read_csv", {"sep": "\t"}),
    ".jsonl": ("read_json", {"lines": True}),
    ".json": ("read_json", {}),
    ".parquet": ("read_parquet", {}),
}


def _suffix(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return suffixes[-1].lower() if suffixes else ""


def _read_table(spec: str, split: str) -> "pd.DataFrame":
    import pandas as pd

    path = Path(spec).expanduser()
    if path.is_file():
        if _suffix(path) not in _READERS:
            raise DataError(f"{path}: unsupported file type; use one of {', '.join(_READERS)}")
        reader, kwargs = _READERS[_suffix(path)]
        try:
            return getattr(pd, reader)(path, **kwargs)
        except (ValueError, pd.errors.ParserError, OSError) as e:
            raise DataError(f"{path}: cannot parse: {str(e).splitlines()[0]}") from None
    if not path.is_dir() and (_suffix(path) in _READERS or spec.startswith((".", "/", "~"))):
        raise DataError(f"data file not found: {spec}")
    # A local dataset folder or a hub id: the same `datasets` code path users know.
    import datasets

    try:
        ds = datasets.load_dataset(str(path) if path.is_dir() else spec, split=split)
    except Exception as e:  # datasets raises many types; all mean "cannot load this"
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"cannot load dataset {spec!r} (split {split!r}): {msg}") from None
    return ds.to_pandas()


@dataclass
class FileTask:
    """Binary classification from a table with a text column and a two-valued label column."""

    source: str
    text_col: str = "text"
    label_col: str = "label"
    split: str = "train"
    kind: str = "classification"

    @property
    def name(self) -> str:
        return self.source

    @property
    def description(self) -> str:
        return f"table {self.source} ({self.text_col!r} -> {self.label_col!r})"

    def load(self) -> Dataset:
        df = _read_table(self.source, self.split)
        for col in (self.text_col, self.label_col):
            if col not in df.columns:
                raise DataError(f"{self.source}: no column {col!r}; columns are {', '.join(map(str, df.columns))}")
        df = df[df[self.text_col].notna()]
        if len(df) == 0:
            raise DataError(f"{self.source}: no rows with a non-empty {self.text_col!r}")
        labels = binarize_labels(df[self.label_col].tolist(), self.label_col)
        return Dataset(df[self.text_col].astype(str).tolist(), labels)
