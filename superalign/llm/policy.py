"""The generation seam for a policy model: sample continuations of prompts, score continuations.

A `Policy` is what generative weak-to-strong trains and evaluates: it samples ``n``
continuations per prompt (seeded, without touching torch's global RNG) and gives the summed
token log-probability of a continuation given its prompt (the quantity SFT and DPO losses are
built from). Prompts are plain text, continued as they are: a chat template, if wanted, is part
of the prompt.

Backends, registered in `POLICY_BACKENDS` under the prefix of their ``get_policy`` spec (the
same spec syntax as ``get_llm``): ``local`` (`TransformersPolicy`, a local causal LM through
transformers) and ``openai`` (`OpenAICompatiblePolicy`, the ``/v1/completions`` endpoint of an
OpenAI-compatible server such as vLLM).

Fine-tuning is not part of this protocol: a local causal-LM folder is trained through TRL by
`superalign.generation.sft` (``SFTTrainer``) and `superalign.generation.dpo` (``DPOTrainer``),
and the new folder is sampled as a new policy. A remote server is sampled and scored only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..registry import Registry
from .base import LLMError

POLICY_BACKENDS: Registry[type] = Registry("policy backend", error=LLMError)  # prefix -> class with from_spec(arg)


@runtime_checkable
class Policy(Protocol):
    """A text-continuation model. `key` identifies the model (never a secret)."""

    key: str

    def sample(
        self,
        prompts: Sequence[str],
        n: int = 1,
        *,
        seed: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 64,
    ) -> list[list[str]]:
        """`n` continuations of each prompt; the same seed gives the same continuations, and
        ``temperature == 0`` is greedy decoding (then all `n` are the same)."""
        ...

    def logprob(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """The summed token log-probability of each continuation given its prompt (float64, one per prompt)."""
        ...


def check_sampling(prompts: Sequence[str], n: int, temperature: float, top_p: float, max_new_tokens: int) -> list[str]:
    """The prompts as a list, or an LLMError naming the bad sampling argument."""
    prompts = list(prompts)
    if not all(isinstance(p, str) for p in prompts):
        raise LLMError("prompts must be strings")
    if n < 1 or max_new_tokens < 1 or temperature < 0 or not 0 < top_p <= 1:
        raise LLMError(
            f"need n >= 1, max_new_tokens >= 1, temperature >= 0 and 0 < top_p <= 1; got n={n}, "
            f"max_new_tokens={max_new_tokens}, temperature={temperature}, top_p={top_p}"
        )
    return prompts


def check_pairs(prompts: Sequence[str], continuations: Sequence[str]) -> tuple[list[str], list[str]]:
    """Prompts and continuations as lists of strings of one length, or an LLMError."""
    prompts, continuations = list(prompts), list(continuations)
    if len(prompts) != len(continuations):
        raise LLMError(f"{len(prompts)} prompts but {len(continuations)} continuations")
    if not all(isinstance(t, str) for t in prompts + continuations):
        raise LLMError("prompts and continuations must be strings")
    return prompts, continuations
