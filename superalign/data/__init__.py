"""Tasks: the registry, splits, and the built-in loaders (importing a loader registers it)."""

from . import sentiment  # noqa: F401  (registers "sentiment")
from .base import SPLITS, Dataset, Splits, Task, binarize_labels, fingerprint, get_task, make_splits, register_task, task_names
from .files import FileTask

__all__ = [
    "SPLITS",
    "Dataset",
    "FileTask",
    "Splits",
    "Task",
    "binarize_labels",
    "fingerprint",
    "get_task",
    "make_splits",
    "register_task",
    "task_names",
]
