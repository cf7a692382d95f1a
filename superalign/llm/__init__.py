"""Generative models: chat LLMs (`LLM`) and policies (`Policy`), local (transformers) or served
(an OpenAI-compatible HTTP server), built from a spec string by `get_llm` / `get_policy`."""

from __future__ import annotations

from ..registry import Registry
from .base import LLM, LLM_BACKENDS, LLMError, Message, with_seed
from .http import OpenAICompatibleLLM, OpenAICompatiblePolicy
from .local import TransformersLLM, TransformersPolicy
from .policy import POLICY_BACKENDS, Policy


def _build(registry: Registry[type], spec: str):
    kind, _, arg = spec.partition(":")
    return registry.get(kind).from_spec(arg)


def get_llm(spec: str) -> LLM:
    """A chat LLM from a spec string ``BACKEND[:ARG]`` (backends: `LLM_BACKENDS`).

    - ``local`` or ``local:smollm2``: the bundled SmolLM2-135M-Instruct (asset ``smollm2``);
    - ``local:PATH_OR_HUB_ID``: a causal-LM folder, a ``.gguf`` file, or a hub id;
    - ``openai`` or ``openai:MODEL``: an OpenAI-compatible server; base URL, model and key from
      ``SUPERALIGN_LLM_BASE_URL`` / ``SUPERALIGN_LLM_MODEL`` / ``SUPERALIGN_LLM_API_KEY``
      (or the ``OPENAI_*`` equivalents).
    """
    return _build(LLM_BACKENDS, spec)


def get_policy(spec: str) -> Policy:
    """A policy from a spec string, in the syntax of `get_llm` (backends: `POLICY_BACKENDS`):
    ``local[:smollm2|PATH|HUB_ID]`` or ``openai[:MODEL]`` (the server's ``/v1/completions``)."""
    return _build(POLICY_BACKENDS, spec)


__all__ = [
    "LLM",
    "LLM_BACKENDS",
    "POLICY_BACKENDS",
    "LLMError",
    "Message",
    "OpenAICompatibleLLM",
    "OpenAICompatiblePolicy",
    "Policy",
    "TransformersLLM",
    "TransformersPolicy",
    "get_llm",
    "get_policy",
    "with_seed",
]
