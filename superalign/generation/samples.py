"""Generations as cached stages: what a policy wrote for some prompts, computed once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data import fingerprint
from ..store import Store


def cached_samples(
    store: Store,
    policy: Any,
    identity: str,
    prompts: Sequence[str],
    n: int,
    *,
    seed: int,
    temperature: float,
    top_p: float = 1.0,
    max_new_tokens: int = 64,
) -> tuple[list[list[str]], str]:
    """`n` continuations of each prompt by `policy` and the stage key they are stored under; the key
    holds `identity` (what the policy is: its spec, or its weights' record), the prompts and the sampling."""
    key = fingerprint("samples", identity, list(prompts), n, seed, (temperature, top_p, max_new_tokens))
    out = store.stage(
        key,
        lambda: {
            "text": np.array(
                policy.sample(
                    prompts, n, seed=seed, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens
                ),
                dtype=str,
            )
        },
    )
    return [[str(s) for s in row] for row in out["text"]], key
