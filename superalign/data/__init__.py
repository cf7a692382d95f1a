"""Tasks: the registry, splits, and the built-in loaders (importing a loader registers it)."""

from . import chess, classic, ethics, generation, legal, preference, refusal, safety, sentiment, toxicity  # noqa: F401
from .base import (
    SPLITS,
    TASKS,
    Dataset,
    Input,
    Splits,
    SplitSizes,
    Task,
    binarize_labels,
    fingerprint,
    generation_metric,
    get_task,
    make_splits,
    most_certain,
    one_hot,
    register_task,
    task_metric,
    task_names,
)
from .files import FileTask

__all__ = [
    "SPLITS",
    "TASKS",
    "Dataset",
    "FileTask",
    "Input",
    "SplitSizes",
    "Splits",
    "Task",
    "binarize_labels",
    "fingerprint",
    "generation_metric",
    "get_task",
    "make_splits",
    "most_certain",
    "one_hot",
    "register_task",
    "task_metric",
    "task_names",
]
