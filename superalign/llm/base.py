"""The chat seam: an LLM that maps messages to a reply.

Backends, registered in `LLM_BACKENDS` under the prefix of their ``get_llm`` spec:
``local`` (`TransformersLLM`: a local causal LM: a folder, a hub id, a GGUF file, or the bundled
SmolLM2-135M-Instruct) and ``openai`` (`OpenAICompatibleLLM`: any server speaking the OpenAI chat
API: vLLM, Ollama, llama.cpp server). The oversight loop's generative attacker and LLM critic
depend only on this protocol. The generation seam for a policy model is `superalign.llm.policy`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..errors import SuperalignError
from ..registry import Registry

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
_ROLES = ("system", "user", "assistant")


class LLMError(SuperalignError):
    """An LLM backend that cannot be reached, refuses, or answers with something unusable."""


LLM_BACKENDS: Registry[type] = Registry("LLM backend", error=LLMError)  # prefix -> class with from_spec(arg)


@runtime_checkable
class LLM(Protocol):
    """A chat model. `key` identifies the model (never a secret); replies are plain strings.

    `json_schema` asks for a reply that is a JSON document of that schema where the backend can
    enforce it (structured output); backends that cannot enforce it ignore it, so callers still
    parse replies robustly.
    """

    key: str

    def chat(
        self,
        messages: Sequence[Message],
        max_tokens: int = 128,
        temperature: float = 0.0,
        json_schema: dict | None = None,
    ) -> str: ...

    def chat_many(
        self,
        conversations: Sequence[Sequence[Message]],
        max_tokens: int = 128,
        temperature: float = 0.0,
        json_schema: dict | None = None,
    ) -> list[str]: ...


def validate_messages(messages: Sequence[Message]) -> list[Message]:
    """A clean copy of a chat, or an LLMError naming what is wrong with it."""
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
            raise LLMError(
                f"message {i} must be a dict with role system/user/assistant and a string content, got {m!r}"
            )
        out.append({"role": m["role"], "content": m["content"]})
    if not out:
        raise LLMError("a chat needs at least one message")
    return out


def with_seed(llm: LLM, seed: int) -> LLM:
    """`llm` sampling with `seed`: a shallow copy that shares the loaded model (or the client), so each
    loop seed gets its own, repeatable LLM randomness. An LLM without a ``seed`` is returned as it is."""
    if not hasattr(llm, "seed"):
        return llm
    twin = copy.copy(llm)
    twin.seed = seed
    return twin
