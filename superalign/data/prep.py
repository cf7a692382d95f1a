"""Small, shared preparation steps of the task loaders: truncation, duplicate resolution,
seeded balanced coin flips."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence

import numpy as np

from .base import Dataset


def clip(text: str, max_chars: int, keep: str = "head") -> str:
    """Truncate to ``max_chars`` characters, marking the cut with an ellipsis.

    ``keep="head"`` keeps the beginning (for passages whose start carries the topic),
    ``keep="tail"`` the end (for a conversation whose last turns matter most).
    """
    text = text.strip()
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    if keep == "tail":
        return "…" + text[len(text) - max_chars + 1 :].lstrip()
    return text[: max_chars - 1].rstrip() + "…"


def majority_dedup(inputs: Sequence[Hashable], labels: Sequence[int]) -> Dataset:
    """One row per distinct input, labelled by the majority of its copies; ties are dropped
    (`Dataset.deduplicate`). Noisy sources repeat an input with different labels; keeping the first
    copy would pick a label by file order."""
    return Dataset(list(inputs), np.asarray(labels, dtype=np.int64)).deduplicate()


def task_rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator for one construction step of a task, independent of every other stream.

    Salting by purpose matters: ``default_rng(0).permutation(n)`` is also how `make_splits`
    draws its pool with ``data_seed=0``, so an unsalted coin over the same n would put only
    positives in the pool.
    """
    salt = int.from_bytes(hashlib.blake2b(purpose.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, salt])


def balanced_flags(n: int, seed: int, purpose: str = "balanced coin") -> np.ndarray:
    """A seeded boolean vector with exactly ``n // 2`` True values in random positions."""
    flags = np.zeros(n, dtype=bool)
    flags[task_rng(seed, purpose).permutation(n)[: n // 2]] = True
    return flags
