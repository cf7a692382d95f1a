"""Generative LLM backends: local transformers and OpenAI-compatible HTTP servers."""

from __future__ import annotations

from .base import LLM, LLMError, Message
from .http import OpenAICompatibleLLM
from .local import TransformersLLM


def get_llm(spec: str) -> LLM:
    """An LLM from a spec string.

    - ``local`` or ``local:smollm2``: the bundled SmolLM2-135M-Instruct (asset ``smollm2``);
    - ``local:PATH_OR_HUB_ID``: a causal-LM folder, a ``.gguf`` file, or a hub id;
    - ``openai`` or ``openai:MODEL``: an OpenAI-compatible server; base URL, model and key from
      ``SUPERALIGN_LLM_BASE_URL`` / ``SUPERALIGN_LLM_MODEL`` / ``SUPERALIGN_LLM_API_KEY``
      (or the ``OPENAI_*`` equivalents).
    """
    kind, _, arg = spec.partition(":")
    if kind == "local":
        return TransformersLLM(arg or "smollm2")
    if kind == "openai":
        return OpenAICompatibleLLM(model=arg or None)
    raise LLMError(f"unknown LLM {spec!r}: use local[:smollm2|PATH|HUB_ID] or openai[:MODEL]")


__all__ = ["LLM", "LLMError", "Message", "OpenAICompatibleLLM", "TransformersLLM", "get_llm"]
