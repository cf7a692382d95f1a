"""Task protocol, registry and seeded disjoint splits."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, DataError
from ..registry import Registry

SPLITS = ("train_gt", "train_w2s", "val", "test")


class SplitSizes(BaseModel):
    """Examples per split (drawn disjointly from one seeded pool)."""

    model_config = ConfigDict(extra="forbid")
    train_gt: int = Field(1000, ge=1, description="ground truth for the weak model")
    train_w2s: int = Field(
        2000, ge=1, description="weak-labelled for the student; its ground truth trains only the ceiling"
    )
    val: int = Field(500, ge=1)
    test: int = Field(1500, ge=1)


def one_hot(labels: np.ndarray, k: int = 2) -> np.ndarray:
    """Integer labels (n,) as float32 one-hot rows (n, k): gold labels as soft targets."""
    return np.eye(k, dtype=np.float32)[np.asarray(labels)]


def most_certain(probs: np.ndarray, share: float) -> np.ndarray:
    """Mask of the `share` of rows with the highest max probability, taken within each predicted
    class (at least one per class), so the predicted class balance is kept."""
    conf, pred = probs.max(1), probs.argmax(1)
    keep = np.zeros(len(pred), dtype=bool)
    for c in np.unique(pred):
        idx = np.flatnonzero(pred == c)
        keep[idx[np.argsort(-conf[idx], kind="stable")[: max(1, round(share * len(idx)))]]] = True
    return keep


Input = str | tuple[str, str]  # a text, or a pair (A, B) of texts for preference tasks


@dataclass(frozen=True)
class Dataset:
    """A whole labelled dataset: inputs and integer labels in {0, 1}.

    An input is a text, or for preference tasks a pair ``(A, B)`` of texts with label 1 when A
    is preferred.
    """

    texts: list[Input]
    labels: np.ndarray

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: np.ndarray) -> Dataset:
        return Dataset([self.texts[i] for i in idx], self.labels[idx])

    def deduplicate(self) -> Dataset:
        """One row per distinct input, labelled by the majority of its copies; an input whose copies
        tie is dropped. Order of first occurrence is kept. The one duplicate rule of every task (the
        registered loaders, `FileTask`, and `make_splits` for any other), so no input is in two splits."""
        votes: dict[Input, list[int]] = {}
        for x, y in zip(self.texts, self.labels):
            votes.setdefault(x, []).append(int(y))
        if len(votes) == len(self.texts):
            return self
        kept = [(x, int(2 * sum(ys) > len(ys))) for x, ys in votes.items() if 2 * sum(ys) != len(ys)]
        return Dataset([x for x, _ in kept], np.array([y for _, y in kept], dtype=np.int64))


@dataclass(frozen=True)
class Splits:
    """The four disjoint splits of one seed. `train_gt` trains the weak model; `train_w2s` is
    labelled by the weak model for the student, and its ground truth trains only the ceiling."""

    train_gt: Dataset
    train_w2s: Dataset
    val: Dataset
    test: Dataset


@runtime_checkable
class Task(Protocol):
    """A registered dataset loader. `load()` returns the full labelled dataset.

    Optional attributes: ``label_names`` (the names of classes 0 and 1, for the prompts of LLM
    roles), ``metric`` (the primary metric PGR is computed on, a name in
    ``superalign.metrics.METRICS``; default accuracy, see `task_metric`), ``location``
    (where the data is read from, for listings) and ``default_sizes`` (`SplitSizes` that fit a
    task too small for the general defaults; a run uses them for the sizes its config leaves unset).
    """

    name: str
    kind: Literal["classification", "preference", "generation"]
    description: str

    def load(self) -> Dataset: ...


TASKS: Registry[Callable[..., Task]] = Registry("task")


def register_task(name: str) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
    """Class decorator: make a task constructible by name (`get_task(name, **args)`)."""
    return TASKS.register(name)


def task_metric(task: Task) -> str:
    """The task's primary metric name (``accuracy`` unless the task sets ``metric``)."""
    return getattr(task, "metric", "accuracy")


def generation_metric(name: Any) -> str | None:
    """The metric of the registered generation task `name`; None for any other name or task."""
    if isinstance(name, str) and name in TASKS and getattr(TASKS[name], "kind", None) == "generation":
        return TASKS[name].metric
    return None


def task_names() -> list[str]:
    return sorted(TASKS)


def get_task(spec: str, **args: Any) -> Task:
    """A registered task by name, else a local file/folder or a Hugging Face hub dataset id."""
    if spec in TASKS:
        try:
            return TASKS[spec](**args)
        except TypeError as e:
            raise ConfigError(f"bad arguments for task {spec!r}: {e}") from None
    from pathlib import Path

    from .files import FileTask  # local import: the registry must not depend on its users

    if not (Path(spec).expanduser().exists() or "/" in spec or Path(spec).suffix):
        raise ConfigError(f"{TASKS.unknown(spec)} (or give a data file, a dataset folder, or a hub id org/name)")
    try:
        return FileTask(spec, **args)
    except TypeError as e:
        raise ConfigError(f"bad arguments for a file task: {e}") from None


def make_splits(data: Dataset, sizes: dict[str, int], seed: int, data_seed: int = 0) -> Splits:
    """Disjoint, class-stratified splits.

    A pool of ``sum(sizes)`` examples is drawn once with ``data_seed`` (so every seed of an
    experiment works on the same examples, and encoder caches are shared); ``seed`` then
    shuffles which pool example goes to which split. Each split keeps the pool's class balance.
    Duplicate inputs are merged first (`Dataset.deduplicate`: majority label, ties dropped), so the
    splits share no input.
    """
    data = data.deduplicate()
    total = sum(sizes[s] for s in SPLITS)
    if any(sizes[s] <= 0 for s in SPLITS):
        raise ConfigError(f"every split size must be positive, got {sizes}")
    if total > len(data):
        raise DataError(f"split sizes add up to {total} but the dataset has only {len(data)} examples")
    pool = np.random.default_rng(data_seed).permutation(len(data))[:total]
    rng = np.random.default_rng(seed)
    # Stratify: interleave the shuffled indices of each class so any prefix keeps the balance.
    by_class = [rng.permutation(pool[data.labels[pool] == c]) for c in np.unique(data.labels[pool])]
    order = np.concatenate(by_class)
    ranks = np.concatenate([(np.arange(len(ix)) + rng.random()) / len(ix) for ix in by_class])
    order = order[np.argsort(ranks, kind="stable")]
    out, start = {}, 0
    for name in SPLITS:
        idx = order[start : start + sizes[name]]
        out[name] = data.subset(rng.permutation(idx))
        start += sizes[name]
    return Splits(**out)


def binarize_labels(values: Sequence[Any], column: str) -> np.ndarray:
    """Map a label column with exactly two distinct values to {0, 1}.

    {0, 1} stay as they are; booleans and "true"/"false" strings map True -> 1; any other two
    values map in sorted order. Anything else is an error naming the column.
    """
    arr = np.asarray(values, dtype=object)
    if len(arr) and any(v is None or (isinstance(v, float) and np.isnan(v)) for v in arr):
        raise DataError(f"label column {column!r} has missing values")
    distinct = sorted({str(v).strip().lower() for v in arr})
    if len(distinct) != 2:
        shown = ", ".join(distinct[:6]) + (" ..." if len(distinct) > 6 else "")
        raise DataError(f"label column {column!r} must have exactly 2 distinct values, found {len(distinct)}: {shown}")
    if set(distinct) in ({"0", "1"}, {"0.0", "1.0"}):
        positive = distinct[1]
    elif set(distinct) == {"false", "true"}:
        positive = "true"
    else:
        positive = distinct[1]
    return np.array([str(v).strip().lower() == positive for v in arr], dtype=np.int64)


def fingerprint(*parts: Any) -> str:
    """A short stable content hash of strings, arrays and nested lists of them."""
    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, np.ndarray):
            h.update(str(x.dtype).encode() + str(x.shape).encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, (list, tuple)):
            h.update(b"[%d" % len(x))
            for y in x:
                feed(y)
            h.update(b"]")
        else:
            b = str(x).encode()
            h.update(b"%d:" % len(b) + b)

    for p in parts:
        feed(p)
    return h.hexdigest()[:16]
