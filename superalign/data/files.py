"""A binary classification task from any table: a CSV/JSONL/Parquet file, a local dataset
folder, or a Hugging Face hub dataset id (loaded with `datasets.load_dataset`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from .base import Dataset, binarize_labels
from .sources import TABLE_SUFFIXES, read_table, table_suffix

if TYPE_CHECKING:
    import pandas as pd


def _read_table(spec: str, split: str) -> pd.DataFrame:
    path = Path(spec).expanduser()
    if path.is_file():
        return read_table(path)
    if not path.is_dir() and (table_suffix(path) in TABLE_SUFFIXES or spec.startswith((".", "/", "~"))):
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
    """Binary classification from a table with a text column and a two-valued label column; a text
    that occurs more than once takes the majority of its labels (ties are dropped)."""

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
        return Dataset(df[self.text_col].astype(str).tolist(), labels).deduplicate()  # majority label, ties dropped
